export { Hub, startHub } from './hub';
export type { HubLogLevel, HubOptions } from './options';
export type { AssignOptions, GroupInfo, HubEvents, WorkerInfo } from './types';
