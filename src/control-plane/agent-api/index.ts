export { AgentApi, ApiError, MEMBERS, type Access, type ApiHandler, type ApiRequest, type ApiResponse } from './server.js';
export { AgentClient, AgentUnreachable, type AgentAnswer, type AgentCall, type AgentTarget } from './client.js';
export { agentUrl } from './url.js';
