export { Hub, startHub, type AssignOptions, type GroupInfo, type HubEvents, type WorkerInfo } from './hub';
export type { HubLogLevel, HubOptions } from './options';
