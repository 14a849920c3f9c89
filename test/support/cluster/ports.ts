export { freePort } from '../../../src/util/free-port';
