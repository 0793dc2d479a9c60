export { Edge, type EdgeOptions, type EdgeStatus, type ServerStatus } from './edge/edge.js';
