// Kubernetes naming rules that flightctl applies to resource names, label keys and label values.
// Each check returns a short problem description, or undefined when the input is fine.

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const qualifiedName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 characters (resource names). */
export function subdomainProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > 253) return `must be at most 253 characters, got ${name.length}`;
  if (!name.split(".").every((part) => dns1123Label.test(part))) {
    return "must consist of lowercase letters, digits, '-' and '.', and start and end with a letter or digit";
  }
  return undefined;
}

/** DNS-1123 label: at most 63 characters, lowercase alphanumerics and '-'. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > 63) return `must be at most 63 characters, got ${name.length}`;
  if (!dns1123Label.test(name)) return "must consist of lowercase letters, digits and '-', and start and end with a letter or digit";
  return undefined;
}

/** Label key: optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    const p = subdomainProblem(prefix);
    if (p) return `prefix ${p}`;
  }
  if (name.length === 0) return "name part must not be empty";
  if (name.length > 63) return `name part must be at most 63 characters, got ${name.length}`;
  if (!qualifiedName.test(name)) return "must consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit";
  return undefined;
}

/** Label value: empty, or at most 63 characters of letters, digits, '-', '_' and '.'. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return `must be at most 63 characters, got ${value.length}`;
  if (!qualifiedName.test(value)) return "must consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit";
  return undefined;
}
