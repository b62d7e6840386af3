import { cpuBackend } from '../backends';
import { defineOperatorSuite } from '../operatorSuite';

defineOperatorSuite(cpuBackend, { maxLength: 300, runs: 60, normalLength: 200_000 });
