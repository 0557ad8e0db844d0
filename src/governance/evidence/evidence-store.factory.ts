import type { AppConfig } from '../../platform/config/config';
import { type EvidenceStore, FilesystemEvidenceStore, S3EvidenceStore } from './evidence-store';

/** The configured archive: the S3-compatible bucket when ARCHIVE_S3_* are set, else ARCHIVE_DIR. */
export function evidenceStoreFrom(config: AppConfig): EvidenceStore {
  const s3 = config.governance.s3;
  return s3 ? new S3EvidenceStore(s3) : new FilesystemEvidenceStore(config.governance.archiveDir);
}

export const EVIDENCE_STORE = Symbol('EVIDENCE_STORE');
