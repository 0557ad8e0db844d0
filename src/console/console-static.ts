import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NextFunction, Request, Response } from 'express';

/**
 * The operator console (docs/console.md, docs/adr/0005-console.md), served by the service itself
 * at /console: one HTML shell, its stylesheet, and ES modules compiled from src/console/web by
 * `npm run build` (tsc) into dist/console. No inline script or style anywhere, so the
 * Content-Security-Policy allows only this origin's own files. Everything the console shows it
 * reads from the admin API with the session cookie.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('console: package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8', '.map': 'application/json' };

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
}

export function consoleMiddleware(): (req: Request, res: Response, next: NextFunction) => void {
  const root = packageRoot();
  const source = join(root, 'src', 'console', 'web');
  const built = join(root, 'dist', 'console');
  const send = (res: Response, file: string, type: string): void => {
    securityHeaders(res);
    if (!existsSync(file)) {
      res.status(404).type('text/plain').send('not found (was the console built? npm run build)');
      return;
    }
    res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', 'no-cache');
    res.status(200).send(readFileSync(file));
  };
  return (req, res, next) => {
    if (req.path !== '/console' && !req.path.startsWith('/console/')) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      securityHeaders(res);
      res.status(405).setHeader('Allow', 'GET, HEAD').type('text/plain').send('method not allowed');
      return;
    }
    // The shell also answers an alert's console_url (`<PUBLIC_URL>/console/alerts/<alert_id>`, in
    // every alert delivery); the page turns the path into its hash route.
    if (req.path === '/console' || req.path === '/console/' || /^\/console\/alerts\/[0-9a-f-]{36}$/.test(req.path)) {
      send(res, join(source, 'index.html'), TYPES['.html']!);
      return;
    }
    const m = /^\/console\/assets\/([a-z0-9-]{1,40})\.(js|css|js\.map)$/.exec(req.path);
    if (!m) {
      securityHeaders(res);
      res.status(404).type('text/plain').send('not found');
      return;
    }
    const [, name, ext] = m;
    if (ext === 'css') send(res, join(source, `${name}.css`), TYPES['.css']!);
    else if (ext === 'js') send(res, join(built, `${name}.js`), TYPES['.js']!);
    else send(res, join(built, `${name}.js.map`), TYPES['.map']!);
  };
}
