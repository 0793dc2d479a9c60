export { parseProxyHeader, ProxyHeaderError, type ProxyHeader } from './parse.js';
