import type { InternalValues, ModuleSettings, ModuleValues } from '../lib/model';

/** Module values from settings, with `internal` as the hooks would write it (empty unless given). */
export function moduleValuesFromSettings(
  settings: ModuleSettings,
  internal: Partial<InternalValues> = {},
): ModuleValues {
  return {
    ...settings,
    internal: { pools: internal.pools ?? [], metallbCRDsPresent: internal.metallbCRDsPresent ?? false },
  };
}
