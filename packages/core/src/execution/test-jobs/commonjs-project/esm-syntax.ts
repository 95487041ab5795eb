// ES module syntax in a .ts file of a "type": "commonjs" project (what `npm init -y` writes).
import { defineJob } from '../../../index.ts';

const name: string = 'esm-syntax-ts';
export default defineJob({ name }, () => {});
