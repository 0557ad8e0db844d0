import { statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import type { LoggerService } from '@nestjs/common';
import type { Counter } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '../config/config';
import { loadTlsMaterial, type TlsFiles, TlsMaterialError, type TlsMaterial, type TlsVariableNames } from '../config/tls';
import { AppError } from '../errors/app-error';
import { toAppError, writeError } from '../errors/problem';
import type { Metrics } from '../telemetry/metrics';
import { cidrAllows } from './cidr';
import { contextOf } from './request-context';

/**
 * The service's listeners (docs/deployment-topologies.md):
 *
 * - `combined`: PORT/HOST when there is no admin listener: every route, as always;
 * - `public`:   PORT/HOST when ADMIN_PORT is set: the data plane only (DATA_PLANE_ROUTES);
 * - `admin`:    ADMIN_PORT/ADMIN_HOST: every route (admin API, console, /metrics, /docs, and the data plane);
 * - `private`:  each of PRIVATE_ENDPOINTS: mutual TLS required, connections only from its CIDRs,
 *               the data plane only, for API keys of its one tenant.
 *
 * Each listener is HTTP or HTTPS on its own; certificates are re-read without a restart
 * (reloadTls: on SIGHUP, and when a file changes, checked every TLS_RELOAD_INTERVAL_MS); a new
 * certificate that does not load keeps the old one and counts a failed reload.
 */
export type ListenerKind = 'combined' | 'public' | 'admin' | 'private';

export interface ListenerInfo {
  readonly name: string;
  readonly kind: ListenerKind;
  /** The tenant of a private endpoint (only its keys are served), else null. */
  readonly tenantId: string | null;
}

const LISTENER = Symbol('aionis.listener');
const COMBINED: ListenerInfo = { name: 'main', kind: 'combined', tenantId: null };

/** Which listener a request came in on (`combined` for requests not from one of ours, e.g. in-process tests). */
export function listenerOf(req: http.IncomingMessage): ListenerInfo {
  return (req as http.IncomingMessage & { [LISTENER]?: ListenerInfo })[LISTENER] ?? COMBINED;
}

/**
 * The routes the public listener and private endpoints serve when the admin API has a listener of
 * its own: the memory API, key introspection, the audit seal verification key, and health.
 * Everything else (the admin API, the console, /metrics, /docs) answers 404 there, exactly as an
 * unknown route does. Matched on the lowercased path, as Express routes case-insensitively.
 */
export function isDataPlanePath(path: string): boolean {
  const p = path.toLowerCase().replace(/\/+$/, '') || '/';
  return p.startsWith('/v1/memory/') || p === '/health' || p === '/health/live' || p === '/health/ready' || p === '/v1/auth/whoami' || p === '/v1/audit/public-key';
}

/** Refuse non-data-plane routes on the public listener and on private endpoints with the 404 of an unknown route. */
export function listenerScopeMiddleware(req: Request, res: Response, next: NextFunction): void {
  const kind = listenerOf(req).kind;
  if (kind === 'combined' || kind === 'admin' || isDataPlanePath(req.path)) {
    next();
    return;
  }
  const { error } = toAppError(new AppError('route_not_found', `Cannot ${req.method} ${req.path}`));
  writeError(res, error, contextOf(req).requestId, req.originalUrl.split('?')[0] ?? '/', req.header('accept'));
}

export type TlsReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

interface ListenerSpec {
  readonly info: ListenerInfo;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles | undefined;
  readonly tlsNames: TlsVariableNames;
  /** Private endpoints: TCP peers outside these CIDRs are disconnected before the handshake. */
  readonly allowedCidrs: readonly string[] | undefined;
}

interface ListenerMetrics {
  readonly reloads: Counter;
  readonly refusals: Counter;
  readonly handshakeFailures: Counter;
}

function secureOptions(m: TlsMaterial, files: TlsFiles): https.ServerOptions {
  return { cert: m.cert, key: m.key, ...(m.ca && files.clientAuth !== 'none' ? { ca: m.ca } : {}) };
}

/** mtime, size and inode of each file: a change to any of them triggers a reload on the next check. */
function filesSignature(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.clientCaFile]
    .filter((f): f is string => f !== undefined)
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}

/** One listening server. */
export class ServiceListener {
  readonly server: http.Server;
  private material: TlsMaterial | undefined;
  private signature = '';
  url = '';

  constructor(
    readonly spec: ListenerSpec,
    handler: http.RequestListener,
    private readonly metrics: ListenerMetrics,
    private readonly logger: LoggerService,
  ) {
    const tagged: http.RequestListener = (req, res) => {
      (req as http.IncomingMessage & { [LISTENER]?: ListenerInfo })[LISTENER] = spec.info;
      handler(req, res);
    };
    if (spec.tls) {
      this.material = loadTlsMaterial(spec.tls, spec.tlsNames);
      this.signature = filesSignature(spec.tls);
      this.server = https.createServer(
        {
          ...secureOptions(this.material, spec.tls),
          requestCert: spec.tls.clientAuth !== 'none',
          rejectUnauthorized: spec.tls.clientAuth === 'require',
          minVersion: 'TLSv1.2',
        },
        tagged,
      );
      this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        this.metrics.handshakeFailures.add(1, { listener: spec.info.name });
        this.logger.debug?.({ msg: 'TLS handshake failed', listener: spec.info.name, ip: socket.remoteAddress ?? null, code: err.code ?? null, reason: err.message });
      });
    } else {
      this.server = http.createServer(tagged);
    }
    const allowed = spec.allowedCidrs;
    if (allowed) {
      // Before the TLS handshake, as a security group would: a peer outside the CIDRs gets nothing.
      this.server.on('connection', (socket: Socket) => {
        if (cidrAllows(allowed, socket.remoteAddress ?? null)) return;
        this.metrics.refusals.add(1, { listener: spec.info.name, reason: 'cidr' });
        this.logger.warn({ msg: 'connection refused: source address outside the private endpoint CIDRs', security: true, listener: spec.info.name, ip: socket.remoteAddress ?? null });
        socket.destroy();
      });
    }
  }

  get info(): ListenerInfo {
    return this.spec.info;
  }

  /** The serving certificate's serial number and expiry (null on plain HTTP). */
  get certificate(): { readonly serialNumber: string; readonly notAfter: Date } | null {
    return this.material ? { serialNumber: this.material.serialNumber, notAfter: this.material.notAfter } : null;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.spec.port, this.spec.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    const port = typeof address === 'object' && address ? address.port : this.spec.port;
    const host = this.spec.host.includes(':') ? `[${this.spec.host}]` : this.spec.host;
    this.url = `${this.spec.tls ? 'https' : 'http'}://${host}:${port}`;
  }

  /**
   * Re-read the certificate, key and client CA. `force`: even if the files look unchanged (SIGHUP).
   * New handshakes use the new context; established connections keep theirs. A failure keeps the old.
   */
  reloadTls(force: boolean): TlsReloadOutcome {
    const tls = this.spec.tls;
    if (!tls || !(this.server instanceof https.Server)) return 'unchanged';
    const signature = filesSignature(tls);
    if (!force && signature === this.signature) return 'unchanged';
    this.signature = signature;
    const name = this.spec.info.name;
    try {
      const material = loadTlsMaterial(tls, this.spec.tlsNames);
      this.server.setSecureContext(secureOptions(material, tls));
      const previous = this.material?.serialNumber ?? null;
      this.material = material;
      this.metrics.reloads.add(1, { listener: name, outcome: 'reloaded' });
      this.logger.log({ msg: 'TLS certificate reloaded', listener: name, serial: material.serialNumber, previous_serial: previous, not_after: material.notAfter.toISOString() });
      return 'reloaded';
    } catch (err) {
      this.metrics.reloads.add(1, { listener: name, outcome: 'failed' });
      const problems = err instanceof TlsMaterialError ? err.problems : [err instanceof Error ? err.message : String(err)];
      this.logger.error({ msg: 'TLS certificate reload failed: the previous certificate stays in use', listener: name, serial: this.material?.serialNumber ?? null, problems });
      return 'failed';
    }
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}

/** Every listener of the process, in the order: main, admin, private endpoints. */
export class Listeners {
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly all: readonly ServiceListener[]) {}

  static create(config: AppConfig, handler: http.RequestListener, metrics: Metrics, logger: LoggerService): Listeners {
    const n = config.network;
    const m: ListenerMetrics = {
      reloads: metrics.meter.createCounter('aionis_tls_reloads', { description: 'Certificate reloads by listener and outcome (reloaded, failed: the old certificate stays)' }),
      refusals: metrics.meter.createCounter('aionis_private_endpoint_refusals', { description: 'Connections refused by a private endpoint, by reason (cidr)' }),
      handshakeFailures: metrics.meter.createCounter('aionis_tls_handshake_failures', { description: 'TLS handshakes that failed (no or an untrusted client certificate, protocol errors), by listener' }),
    };
    const names = (prefix: string): TlsVariableNames => ({ cert: `${prefix}TLS_CERT_FILE`, key: `${prefix}TLS_KEY_FILE`, ca: `${prefix}TLS_CLIENT_CA_FILE` });
    const specs: ListenerSpec[] = [
      { info: { name: 'main', kind: n.admin ? 'public' : 'combined', tenantId: null }, host: config.host, port: config.port, tls: n.tls, tlsNames: names(''), allowedCidrs: undefined },
    ];
    if (n.admin) specs.push({ info: { name: 'admin', kind: 'admin', tenantId: null }, host: n.admin.host, port: n.admin.port, tls: n.admin.tls, tlsNames: names(n.admin.tls === n.tls ? '' : 'ADMIN_'), allowedCidrs: undefined });
    for (const p of n.privateEndpoints) {
      const at = `PRIVATE_ENDPOINTS(${p.name})`;
      specs.push({
        info: { name: `private:${p.name}`, kind: 'private', tenantId: p.tenantId },
        host: p.host,
        port: p.port,
        tls: p.tls,
        tlsNames: { cert: `${at}.cert_file`, key: `${at}.key_file`, ca: `${at}.client_ca_file` },
        allowedCidrs: p.allowedCidrs,
      });
    }
    const listeners = new Listeners(specs.map((s) => new ServiceListener(s, handler, m, logger)));
    const expiry = metrics.meter.createObservableGauge('aionis_tls_certificate_expiry_timestamp_seconds', { description: 'When each listener’s serving certificate expires (Unix seconds)' });
    expiry.addCallback((r) => {
      for (const l of listeners.all) {
        const c = l.certificate;
        if (c) r.observe(Math.floor(c.notAfter.getTime() / 1000), { listener: l.info.name });
      }
    });
    return listeners;
  }

  get main(): ServiceListener {
    return this.all[0]!;
  }

  byName(name: string): ServiceListener | undefined {
    return this.all.find((l) => l.info.name === name);
  }

  async listen(reloadIntervalMs: number): Promise<void> {
    const opened: ServiceListener[] = [];
    try {
      for (const l of this.all) {
        await l.listen();
        opened.push(l);
      }
    } catch (err) {
      await Promise.all(opened.map((l) => l.close()));
      throw err;
    }
    if (reloadIntervalMs > 0 && this.all.some((l) => l.spec.tls)) {
      this.timer = setInterval(() => this.reloadTls(false), reloadIntervalMs);
      this.timer.unref();
    }
  }

  /** Reload every TLS listener whose files changed (all of them with `force`, as on SIGHUP). */
  reloadTls(force: boolean): Record<string, TlsReloadOutcome> {
    return Object.fromEntries(this.all.map((l) => [l.info.name, l.reloadTls(force)]));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.all.map((l) => l.close()));
  }
}
