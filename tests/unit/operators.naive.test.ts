import { naiveBackend } from '../backends';
import { defineOperatorSuite } from '../operatorSuite';

// The oracle against itself checks the operator layer and the properties, independent of any backend.
defineOperatorSuite(naiveBackend, { maxLength: 200, runs: 60, normalLength: 50_000 });
