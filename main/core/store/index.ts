/** SparseLab's run store: experiments, runs and their records in SQLite, checkpoints beside it. */
export { Store, openStore, STATUS_TRANSITIONS } from './store';
export { defaultDataDir, DB_FILE, CHECKPOINTS_DIR } from './paths';
export { SCHEMA_VERSION, MIGRATIONS, APPLICATION_ID, migrate, schemaVersion, type Migration } from './schema';
export {
  StoreError,
  StoreOpenError,
  StoreClosedError,
  UnknownRunError,
  UnknownExperimentError,
  InvalidTransitionError,
  InvalidRecordError,
} from './errors';
export type * from '../../../common/runs';
