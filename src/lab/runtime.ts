/**
 * Wiring for the lab commands: one Controller with the configured prefix, the logger and the
 * policy compiler.
 */
import { labConfig, type LabConfig } from './config.js';
import { logger } from '../log.js';
import { Controller } from '../controlplane/controller.js';
import { netpolCompiler } from '../controlplane/netpol-compiler.js';

export function labController(cfg: LabConfig = labConfig()): Controller {
  return new Controller({ cfg, log: logger('lab'), compiler: netpolCompiler(cfg) });
}
