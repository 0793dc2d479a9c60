/** The compiled CLI entry point, for starting `bulwark` again as a child process or a service. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
