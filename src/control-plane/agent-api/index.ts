export { AgentApi, ApiError, type ApiHandler, type ApiRequest, type ApiResponse } from './server.js';
export { agentUrl } from './url.js';
