import { ApiError, type Me, setSignedOutHandler, signIn, signOut, whoAmI } from './api.js';
import { h, replace } from './dom.js';
import { alertPage, alertsPage, auditPage, deadLettersPage, governancePage, overviewPage, projectionsPage, tenantPage } from './pages.js';

/**
 * The console shell: sign-in, navigation (hash routes, so the server serves one page), and the
 * signed-in operator. What an operator may change follows their role: an auditor's pages have no
 * mutation buttons, and the API refuses an auditor's changes anyway.
 */
const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
let me: Me | null = null;

const canWrite = (): boolean => me !== null && me.operator.role !== 'auditor';

function showSignIn(message?: string): void {
  me = null;
  nav.hidden = true;
  replace(who);
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', required: true, placeholder: 'aio_admin_…', 'aria-label': 'Operator token' });
  const status = h('p', { class: 'muted' }, message ?? '');
  const form = h(
    'form',
    {
      class: 'signin',
      'data-testid': 'signin',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const token = input.value;
        // The token goes once to the server in a header; the field is cleared and nothing keeps it.
        input.value = '';
        status.textContent = 'Signing in…';
        signIn(token)
          .then((m) => {
            me = m;
            signedIn();
          })
          .catch((err: unknown) => {
            status.textContent = err instanceof ApiError && err.status === 401 ? 'That token was not accepted.' : `Sign-in failed: ${String(err instanceof Error ? err.message : err)}`;
            status.className = 'bad';
          });
      },
    },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste your operator token. It is exchanged for a session; the console never stores it.'),
    h('label', {}, 'Operator token', input),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    status,
  );
  replace(main, form);
  input.focus();
}

function signedIn(): void {
  if (!me) return;
  nav.hidden = false;
  replace(
    who,
    h('span', { 'data-testid': 'who' }, `${me.operator.display_name} · `, h('span', { class: 'pill', 'data-testid': 'role' }, me.operator.role)),
    h('button', { type: 'button', 'data-testid': 'signout', onclick: () => void signOut().then(() => showSignIn('Signed out.')) }, 'Sign out'),
  );
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
  else void route();
}

async function route(): Promise<void> {
  if (!me) return;
  const path = location.hash.replace(/^#/, '') || '/overview';
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', path.startsWith(a.getAttribute('href')!.slice(1)));
  const tenant = /^\/tenants\/([a-z0-9_-]{3,63})$/.exec(path);
  const alert = /^\/alerts\/([0-9a-f-]{36})$/.exec(path);
  const write = canWrite();
  // Each navigation renders into a view of its own: a slower page still loading from before draws
  // into its detached view, never over the page now shown.
  const view = h('div', { 'data-route': path });
  replace(main, view);
  try {
    if (tenant) await tenantPage(view, tenant[1]!);
    else if (path.startsWith('/dead-letters')) await deadLettersPage(view, write);
    else if (path.startsWith('/projections')) await projectionsPage(view);
    else if (path.startsWith('/audit')) await auditPage(view);
    else if (path.startsWith('/governance')) await governancePage(view);
    else if (alert) await alertPage(view, alert[1]!);
    else if (path.startsWith('/alerts')) await alertsPage(view);
    else await overviewPage(view);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    replace(view, h('div', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err)));
  }
}

// An alert's console_url (`/console/alerts/<alert_id>`, in every delivery) is the alert's hash route.
const alertPath = /^\/console\/alerts\/([0-9a-f-]{36})$/.exec(location.pathname);
if (alertPath) history.replaceState(null, '', `/console#/alerts/${alertPath[1]!}`);

setSignedOutHandler(() => {
  if (me) showSignIn('Your session ended (signed out or expired). Sign in again.');
});
window.addEventListener('hashchange', () => void route());
whoAmI()
  .then((m) => {
    me = m;
    if (m) signedIn();
    else showSignIn();
  })
  .catch(() => showSignIn());
