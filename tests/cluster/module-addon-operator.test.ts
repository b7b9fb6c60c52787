// The module's life cycle on a real cluster under addon-operator, the engine Deckhouse runs it
// with: the packaged module (`npm run package`) in addon-operator's MODULES_DIR, its settings and
// its enabled flag in the ConfigMap `addon-operator`. The story is in life-cycle.ts.
import { lifeCycle } from './life-cycle';

lifeCycle('addon-operator');
