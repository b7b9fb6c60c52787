// The module's life cycle on a real cluster under plain shell-operator (standalone); the story is
// in life-cycle.ts, and module-addon-operator.test.ts runs it under addon-operator.
import { lifeCycle } from './life-cycle';

lifeCycle('shell-operator');
