export {
  Hub,
  startHub,
  type AssignOptions,
  type GroupInfo,
  type HubEvents,
  type HubLogLevel,
  type HubOptions,
  type WorkerInfo,
} from './hub';
