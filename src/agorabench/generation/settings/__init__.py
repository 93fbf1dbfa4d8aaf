"""The nine AgoraBench settings: {instance_generation, response_generation, quality_enhancement} x
{math, code, general}. `registry.build_setting` turns a `SettingConfig` into an engine task.
(Kept import-free: `generation.config` imports `settings.config`, which must not pull in the engine.)"""
