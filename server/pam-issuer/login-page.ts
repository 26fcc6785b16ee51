// The issuer's HTML: the login form (no script, labelled fields, the pending authorization request bound by an
// unguessable id in a hidden field) and a plain message page.
const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#151515;display:flex;justify-content:center;padding-top:10vh;margin:0}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0003;width:min(22rem,90vw)}
h1{font-size:1.4rem;margin-top:0} label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #6a6e73;border-radius:4px;font-size:1rem}
input:focus,button:focus{outline:3px solid #0066cc;outline-offset:1px}
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#0066cc;color:#fff;font-size:1rem;cursor:pointer}
p[role=alert]{color:#a30000;background:#fdecea;padding:.5rem;border-radius:4px}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>`;
}

export function loginPage(action: string, requestId: string, error?: string, username = ""): string {
  return page(
    "Log in to Flight Control",
    `${error ? `<p role="alert" id="login-error">${escapeHtml(error)}</p>` : ""}
<form method="post" action="${escapeHtml(action)}"${error ? ' aria-describedby="login-error"' : ""}>
<input type="hidden" name="request" value="${escapeHtml(requestId)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required${username ? "" : " autofocus"} value="${escapeHtml(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${username ? " autofocus" : ""}>
<button type="submit">Log in</button>
</form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p>${escapeHtml(message)}</p>`);
}
