import type { NextFunction, Request, Response } from 'express';
import type { Metrics } from '../telemetry/metrics';
import { contextOf, routeOf } from './request-context';

/** Count and time every request by method, matched route template and status. */
export function httpMetricsMiddleware(metrics: Metrics): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    res.on('finish', () => {
      const labels = { method: req.method, route: routeOf(req), status: String(res.statusCode) };
      metrics.httpRequests.add(1, labels);
      metrics.httpDuration.record((performance.now() - contextOf(req).startedAt) / 1000, labels);
    });
    next();
  };
}
