import { defineJob } from '../../index.ts';

const name: string = 'module-mts';
export default defineJob({ name }, () => {});
