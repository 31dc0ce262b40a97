// Server-rendered pages: small, accessible (labels, lang, focus), no external assets, no inline
// script or style (the CSP forbids both). Every dynamic value goes through esc().

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Strict CSP: only our own stylesheet and script, images from data: (the TOTP QR code). */
export const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

export const STYLE = `
*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
main.wide{max-width:50rem}h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin:.8rem 0 .3rem}
input[type=text],input[type=password],textarea{width:100%;padding:.55rem;border:1px solid #8a93a6;border-radius:4px;font:inherit}
button{margin-top:1rem;padding:.55rem 1.2rem;border:0;border-radius:4px;background:#1f5fbf;color:#fff;font:inherit;cursor:pointer}
button.link{background:none;color:#1f5fbf;padding:0;margin:0;text-decoration:underline}
.err{background:#fde8e8;border-left:4px solid #c62828;padding:.6rem .8rem}.ok{background:#e6f4ea;border-left:4px solid #2e7d32;padding:.6rem .8rem}
.muted{color:#5b6475;font-size:.9rem}code{background:#eef0f4;padding:.1rem .3rem;border-radius:3px;word-break:break-all}
ul.apps{list-style:none;padding:0}ul.apps li{padding:.5rem 0;border-bottom:1px solid #e3e6ec}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.3rem;border-bottom:1px solid #e3e6ec;font-size:.9rem}section{margin-top:2rem}
:focus{outline:3px solid #f5a623;outline-offset:2px}
`;

/** Submits the one form on the page (SAML HTTP-POST binding). Served as a file: the CSP allows no inline script. */
export const AUTOPOST_JS = `document.addEventListener('DOMContentLoaded',function(){var f=document.getElementById('autopost');if(f)f.submit();});`;

/** The page's one script, if any: `autopost` (SAML HTTP-POST) or `webauthn` (security key ceremonies). */
export function page(title: string, body: string, opts: { wide?: boolean; script?: 'autopost' | 'webauthn' } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(title)}</title><link rel="stylesheet" href="/sso/static/cairn.css">
${opts.script ? `<script src="/sso/static/${opts.script}.js"></script>` : ''}</head>
<body><main${opts.wide ? ' class="wide"' : ''}>${body}</main></body></html>`;
}

export function errorBox(msg: string | null | undefined): string {
  return msg ? `<p class="err" role="alert">${esc(msg)}</p>` : '';
}

export function noticeBox(msg: string | null | undefined): string {
  return msg ? `<p class="ok" role="status">${esc(msg)}</p>` : '';
}

export function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`;
}

export function field(name: string, label: string, type: 'text' | 'password', opts: { autocomplete?: string; value?: string; autofocus?: boolean; inputmode?: string } = {}): string {
  return `<label for="${esc(name)}">${esc(label)}</label><input id="${esc(name)}" name="${esc(name)}" type="${type}" required` +
    `${opts.autocomplete ? ` autocomplete="${esc(opts.autocomplete)}"` : ''}${opts.value !== undefined ? ` value="${esc(opts.value)}"` : ''}` +
    `${opts.inputmode ? ` inputmode="${esc(opts.inputmode)}"` : ''}${opts.autofocus ? ' autofocus' : ''}>`;
}

export function messagePage(title: string, message: string, link?: { href: string; text: string }): string {
  return page(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>${link ? `<p><a href="${esc(link.href)}">${esc(link.text)}</a></p>` : ''}`);
}

/** SAML HTTP-POST binding: a form the browser posts to the SP's ACS. */
/**
 * Runs the WebAuthn ceremony of a form marked data-webauthn="get" or "create": decodes the
 * options (base64url), asks the authenticator, puts its JSON answer in the form's `webauthn`
 * field and submits. Served as a file: the CSP allows no inline script.
 */
export const WEBAUTHN_JS = `(function(){
function buf(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%4)s+='=';var b=atob(s),a=new Uint8Array(b.length);for(var i=0;i<b.length;i++)a[i]=b.charCodeAt(i);return a.buffer;}
function b64u(x){var a=new Uint8Array(x),s='';for(var i=0;i<a.length;i++)s+=String.fromCharCode(a[i]);return btoa(s).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'');}
function json(c,r){var o={id:c.id,rawId:b64u(c.rawId),type:c.type,clientExtensionResults:c.getClientExtensionResults(),response:r};if(c.authenticatorAttachment)o.authenticatorAttachment=c.authenticatorAttachment;return o;}
function run(form){var o=JSON.parse(form.getAttribute('data-options'));o.challenge=buf(o.challenge);
if(form.getAttribute('data-webauthn')==='create'){o.user.id=buf(o.user.id);(o.excludeCredentials||[]).forEach(function(c){c.id=buf(c.id);});
return navigator.credentials.create({publicKey:o}).then(function(c){return json(c,{clientDataJSON:b64u(c.response.clientDataJSON),attestationObject:b64u(c.response.attestationObject),transports:c.response.getTransports?c.response.getTransports():[]});});}
(o.allowCredentials||[]).forEach(function(c){c.id=buf(c.id);});
return navigator.credentials.get({publicKey:o}).then(function(c){var r={clientDataJSON:b64u(c.response.clientDataJSON),authenticatorData:b64u(c.response.authenticatorData),signature:b64u(c.response.signature)};if(c.response.userHandle)r.userHandle=b64u(c.response.userHandle);return json(c,r);});}
document.addEventListener('DOMContentLoaded',function(){document.querySelectorAll('form[data-webauthn]').forEach(function(form){form.addEventListener('submit',function(ev){
ev.preventDefault();var err=form.querySelector('.webauthn-error');if(!window.PublicKeyCredential){err.textContent='This browser cannot use security keys.';err.hidden=false;return;}
run(form).then(function(r){form.querySelector('input[name=webauthn]').value=JSON.stringify(r);form.submit();},function(e){err.textContent='The security key did not answer ('+e.name+'). Try again.';err.hidden=false;});});});});
})();`;

export function autoPostPage(action: string, fields: Record<string, string>, title = 'Signing in…'): string {
  const inputs = Object.entries(fields).map(([k, v]) => hidden(k, v)).join('');
  return page(title, `<h1>${esc(title)}</h1><form id="autopost" method="post" action="${esc(action)}">${inputs}<noscript><p>JavaScript is off: press Continue.</p></noscript><button type="submit">Continue</button></form>`, { script: 'autopost' });
}

export const signedOutPage = (): string => messagePage('Signed out', 'You are signed out of Cairn.', { href: '/sso/', text: 'Sign in again' });
