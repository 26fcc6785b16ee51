// A minimal DER reader for the few certificate fields read on hot paths (the agent endpoint's identity extensions,
// an agent's certificate validity): walking the bytes costs microseconds, where OpenSSL 3's certificate parse (its
// public-key decoder) costs a few tenths of a millisecond — per connection on the server, per agent in a simulator.

export interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** The DER element at `i` (tag, content start and end); throws when it runs past `limit`. */
export function tlv(b: Uint8Array, i: number, limit: number): Tlv {
  if (i + 2 > limit) throw new Error("truncated DER");
  const first = b[i + 1];
  let len = first;
  let head = 2;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n < 1 || n > 4 || i + 2 + n > limit) throw new Error("bad DER length");
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + b[i + 2 + k];
    head = 2 + n;
  }
  if (i + head + len > limit) throw new Error("truncated DER");
  return { tag: b[i], start: i + head, end: i + head + len };
}

/** The children of a constructed element. */
export function children(b: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let i = parent.start; i < parent.end; ) {
    const c = tlv(b, i, parent.end);
    out.push(c);
    i = c.end;
  }
  return out;
}

/** UTCTime (YYMMDDHHMMSSZ, years 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5 has them. */
function time(b: Uint8Array, t: Tlv): Date {
  const s = Buffer.from(b.subarray(t.start, t.end)).toString("latin1");
  const m =
    t.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : t.tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
        : null;
  if (!m) throw new Error(`bad certificate time ${JSON.stringify(s)}`);
  const year = t.tag === 0x17 ? (Number(m[1]) >= 50 ? 1900 : 2000) + Number(m[1]) : Number(m[1]);
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/**
 * A certificate's serial (upper-case hex without leading zero bytes, as X509Certificate#serialNumber gives it) and
 * validity, from its DER.
 */
export function certificateValidity(der: Uint8Array): { serial: string; notBefore: Date; notAfter: Date } {
  const cert = tlv(der, 0, der.length);
  const tbs = children(der, tlv(der, cert.start, cert.end));
  // tbsCertificate: [0] version (optional), serialNumber, signature, issuer, validity, …
  const at = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const serial = tbs[at];
  const validity = tbs[at + 3];
  if (serial?.tag !== 0x02 || validity?.tag !== 0x30) throw new Error("not an X.509 certificate");
  let from = serial.start;
  while (from < serial.end - 1 && der[from] === 0) from++;
  const [notBefore, notAfter] = children(der, validity);
  return {
    serial: Buffer.from(der.subarray(from, serial.end)).toString("hex").toUpperCase(),
    notBefore: time(der, notBefore),
    notAfter: time(der, notAfter),
  };
}

/** The DER of the first PEM block labelled `label` in `pem`. */
export function pemBody(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} in PEM`);
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}
