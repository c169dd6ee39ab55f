//! Identifiers Runpod's API knows, as the official clients list them (runpod-flash 1.21
//! `core/resources/{gpu,cpu,datacenter}.py`, runpod 2.0.0rc2 `runpod/apps/{gpu,datacenter}.py`):
//! what `flash deploy` sends and what the emulator accepts.

/// GPU pool ids (`gpuIds` values). The clients' "any" is not one: it is expanded to all of
/// these before anything is sent ("the api has no wildcard and rejects \"any\"", runpod 2.0
/// `apps/gpu.py`).
pub const GPU_POOLS: [&str; 11] = [
    "ADA_24",
    "ADA_32_PRO",
    "ADA_48_PRO",
    "ADA_80_PRO",
    "AMPERE_16",
    "AMPERE_24",
    "AMPERE_48",
    "AMPERE_80",
    "BLACKWELL_180",
    "BLACKWELL_96",
    "HOPPER_141",
];

/// The client-side wildcard for "any GPU pool".
pub const ANY_GPU: &str = "any";

/// CPU instance ids (`instanceIds` values), `{flavor}-{vCPU}-{memory GB}`.
pub const CPU_INSTANCES: [&str; 12] = [
    "cpu3g-1-4",
    "cpu3g-2-8",
    "cpu3g-4-16",
    "cpu3g-8-32",
    "cpu3c-1-2",
    "cpu3c-2-4",
    "cpu3c-4-8",
    "cpu3c-8-16",
    "cpu5c-1-2",
    "cpu5c-2-4",
    "cpu5c-4-8",
    "cpu5c-8-16",
];

/// Datacenters with network storage, where GPU endpoints without a pin are placed.
pub const DATACENTERS: [&str; 11] = [
    "US-CA-2", "US-IL-1", "US-KS-2", "US-MO-1", "US-MO-2", "US-NC-2", "US-NE-1", "US-WA-1",
    "EU-CZ-1", "EU-RO-1", "EUR-NO-1",
];

/// Where a network volume is created when the manifest names no datacenter (runpod-flash 1.21
/// `network_volume.py`).
pub const DEFAULT_VOLUME_DATACENTER: &str = "EU-RO-1";

/// Container disk of a GPU worker's template, in GB (runpod-flash 1.21 `template.py`).
pub const GPU_CONTAINER_DISK_GB: u64 = 64;

/// The largest container disk a CPU instance allows, in GB: vCPU x 10 for cpu3g/cpu3c, vCPU x 15
/// for cpu5c (runpod-flash 1.21 `core/resources/cpu.py`). `None` for an unknown instance id.
pub fn cpu_container_disk_limit_gb(instance: &str) -> Option<u64> {
    if !CPU_INSTANCES.contains(&instance) {
        return None;
    }
    let mut parts = instance.split('-');
    let flavor = parts.next()?;
    let vcpu: u64 = parts.next()?.parse().ok()?;
    Some(vcpu * if flavor == "cpu5c" { 15 } else { 10 })
}

/// `gpuIds` with the wildcard expanded: each pool once, in the order given, "any" replaced by
/// every pool.
pub fn expand_gpu_ids(gpu_ids: &str) -> String {
    let mut pools: Vec<&str> = Vec::new();
    for id in gpu_ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        if id.eq_ignore_ascii_case(ANY_GPU) {
            pools.extend(GPU_POOLS);
        } else {
            pools.push(id);
        }
    }
    let mut seen = Vec::with_capacity(pools.len());
    for pool in pools {
        if !seen.contains(&pool) {
            seen.push(pool);
        }
    }
    seen.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_expands_to_every_pool_once() {
        assert_eq!(expand_gpu_ids("any"), GPU_POOLS.join(","));
        assert_eq!(expand_gpu_ids("ADA_24, any"), GPU_POOLS.join(","));
        assert_eq!(expand_gpu_ids("AMPERE_80,ADA_24"), "AMPERE_80,ADA_24");
        assert!(!expand_gpu_ids("any").contains("any"));
    }

    #[test]
    fn cpu_disk_limits_follow_the_flavor() {
        assert_eq!(cpu_container_disk_limit_gb("cpu3c-1-2"), Some(10));
        assert_eq!(cpu_container_disk_limit_gb("cpu3g-8-32"), Some(80));
        assert_eq!(cpu_container_disk_limit_gb("cpu5c-4-8"), Some(60));
        assert_eq!(cpu_container_disk_limit_gb("cpu9x-1-2"), None);
    }
}
