//! Resource configuration: what kind of Runpod endpoint serves a set of functions.
//!
//! A resource is declared once, as a `const`, and named from `#[remote(...)]`:
//!
//! ```
//! use runpod_flash::resource::{GpuGroup, Resource, ScalerType};
//!
//! const GPU: Resource = Resource::queue("gpu-inference")
//!     .gpu(&[GpuGroup::Ada24, GpuGroup::Ampere24])
//!     .workers(0, 3)
//!     .idle_timeout(120)
//!     .max_concurrency(4)
//!     .env(&[("HF_HOME", "/runpod-volume/hf")]);
//!
//! const API: Resource = Resource::load_balanced("gateway")
//!     .cpu(&["cpu3c-1-2"])
//!     .workers(1, 3)
//!     .scaler(ScalerType::RequestCount, 4);
//!
//! assert_eq!(GPU.name(), "gpu-inference");
//! assert!(API.is_load_balanced());
//! let entry = GPU.manifest_entry();
//! assert_eq!(entry.gpu_ids.as_deref(), Some("ADA_24,AMPERE_24"));
//! assert_eq!(entry.max_concurrency, Some(4));
//! ```
//!
//! The builder methods are `const fn`s that check their arguments: an invalid option (workers
//! min above max, an idle timeout outside 1..=3600 s, GPU and CPU on one resource, ...) fails
//! the build where the `const` is evaluated, so a bad configuration never reaches a deploy.
//! Every option is written to the manifest by [`Resource::manifest_entry`]; none is dropped.

use indexmap::IndexMap;

use crate::manifest::{NetworkVolume as ManifestVolume, ResourceConfig, TemplateConfig};

/// Runpod's GPU pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GpuGroup {
    /// Any pool.
    Any,
    /// 24 GB Ada (L4, RTX 4090).
    Ada24,
    /// 32 GB Ada pro (RTX 5000 Ada).
    Ada32Pro,
    /// 48 GB Ada pro (L40, L40S, RTX 6000 Ada).
    Ada48Pro,
    /// 80 GB Ada pro (H100 PCIe/SXM).
    Ada80Pro,
    /// 16 GB Ampere (RTX A4000, A4500).
    Ampere16,
    /// 24 GB Ampere (RTX A5000, RTX 3090).
    Ampere24,
    /// 48 GB Ampere (A40, RTX A6000).
    Ampere48,
    /// 80 GB Ampere (A100).
    Ampere80,
    /// 141 GB Hopper (H200).
    Hopper141,
    /// 96 GB Blackwell.
    Blackwell96,
    /// 180 GB Blackwell (B200).
    Blackwell180,
}

impl GpuGroup {
    /// Runpod's pool id, as `gpuIds` lists it.
    pub const fn pool_id(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Ada24 => "ADA_24",
            Self::Ada32Pro => "ADA_32_PRO",
            Self::Ada48Pro => "ADA_48_PRO",
            Self::Ada80Pro => "ADA_80_PRO",
            Self::Ampere16 => "AMPERE_16",
            Self::Ampere24 => "AMPERE_24",
            Self::Ampere48 => "AMPERE_48",
            Self::Ampere80 => "AMPERE_80",
            Self::Hopper141 => "HOPPER_141",
            Self::Blackwell96 => "BLACKWELL_96",
            Self::Blackwell180 => "BLACKWELL_180",
        }
    }
}

/// How Runpod decides to add workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalerType {
    /// Scale when jobs wait longer than the scaler value (seconds). Queue endpoints' default.
    QueueDelay,
    /// Scale to keep requests per worker under the scaler value. Load-balanced endpoints' only
    /// choice.
    RequestCount,
}

impl ScalerType {
    /// The name the API uses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::QueueDelay => "QUEUE_DELAY",
            Self::RequestCount => "REQUEST_COUNT",
        }
    }
}

/// Queue-based or load-balanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// Runpod's job queue: `/run`, `/runsync`, `/status`.
    Queue,
    /// Plain HTTP routes served by the workers directly.
    LoadBalanced,
}

/// What the workers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compute {
    /// GPU workers from these pools.
    Gpu(&'static [GpuGroup]),
    /// CPU workers of these instance types (`cpu3c-1-2`, `cpu5c-4-8`, ...).
    Cpu(&'static [&'static str]),
}

/// A network volume mounted at `/runpod-volume` on the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Volume {
    /// The volume's name; volumes are found or created by name and datacenter.
    pub name: &'static str,
    /// Size in GB, used when the volume is created.
    pub size_gb: u32,
    /// Its datacenter.
    pub datacenter: &'static str,
}

impl Volume {
    /// A volume of `size_gb` GB in `datacenter`.
    pub const fn new(name: &'static str, size_gb: u32, datacenter: &'static str) -> Self {
        assert!(!name.is_empty(), "a network volume needs a name");
        assert!(
            size_gb >= 10 && size_gb <= 4096,
            "network volume size must be 10..=4096 GB"
        );
        Self {
            name,
            size_gb,
            datacenter,
        }
    }
}

/// Every datacenter, the default for GPU resources.
pub const ALL_DATACENTERS: &[&str] = &flash_contract::runpod::DATACENTERS;

/// A Runpod endpoint configuration. Build one with [`Resource::queue`] or
/// [`Resource::load_balanced`] and the `const` builder methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    name: &'static str,
    kind: EndpointKind,
    compute: Compute,
    workers_min: u32,
    workers_max: u32,
    idle_timeout_secs: u32,
    scaler: Option<(ScalerType, u32)>,
    execution_timeout_ms: u64,
    gpu_count: u32,
    flashboot: bool,
    env: &'static [(&'static str, &'static str)],
    volumes: &'static [Volume],
    datacenters: &'static [&'static str],
    min_cuda_version: Option<&'static str>,
    max_concurrency: u32,
    image: Option<&'static str>,
    container_disk_gb: Option<u32>,
    system_dependencies: &'static [&'static str],
}

impl Resource {
    const fn new(name: &'static str, kind: EndpointKind) -> Self {
        assert!(!name.is_empty(), "a resource needs a name");
        Self {
            name,
            kind,
            compute: Compute::Gpu(&[GpuGroup::Any]),
            workers_min: 0,
            workers_max: 1,
            idle_timeout_secs: 60,
            scaler: None,
            execution_timeout_ms: 0,
            gpu_count: 1,
            flashboot: true,
            env: &[],
            volumes: &[],
            datacenters: &[],
            min_cuda_version: None,
            max_concurrency: 1,
            image: None,
            container_disk_gb: None,
            system_dependencies: &[],
        }
    }

    /// A queue-based endpoint (Runpod's `/run` and `/runsync` job API). Defaults: any GPU,
    /// workers 0..=1, idle timeout 60 s, scaler `QUEUE_DELAY` 4, FlashBoot on.
    pub const fn queue(name: &'static str) -> Self {
        Self::new(name, EndpointKind::Queue)
    }

    /// A load-balanced endpoint: functions are HTTP routes (`#[remote(R, method = "POST",
    /// path = "/x")]`). Defaults as [`Resource::queue`], but scaler `REQUEST_COUNT` 4.
    pub const fn load_balanced(name: &'static str) -> Self {
        Self::new(name, EndpointKind::LoadBalanced)
    }

    /// GPU workers from these pools.
    pub const fn gpu(mut self, pools: &'static [GpuGroup]) -> Self {
        assert!(!pools.is_empty(), "gpu(): name at least one GPU pool");
        self.compute = Compute::Gpu(pools);
        self
    }

    /// CPU workers of these instance types.
    pub const fn cpu(mut self, instance_types: &'static [&'static str]) -> Self {
        assert!(
            !instance_types.is_empty(),
            "cpu(): name at least one instance type"
        );
        self.compute = Compute::Cpu(instance_types);
        self
    }

    /// Minimum and maximum number of workers.
    pub const fn workers(mut self, min: u32, max: u32) -> Self {
        assert!(min <= max, "workers(min, max): min must not exceed max");
        assert!(max > 0, "workers(min, max): max must be at least 1");
        self.workers_min = min;
        self.workers_max = max;
        self
    }

    /// Seconds an idle worker stays up (1..=3600).
    pub const fn idle_timeout(mut self, secs: u32) -> Self {
        assert!(
            secs >= 1 && secs <= 3600,
            "idle_timeout(secs): must be 1..=3600"
        );
        self.idle_timeout_secs = secs;
        self
    }

    /// The autoscaler and its threshold.
    pub const fn scaler(mut self, scaler: ScalerType, value: u32) -> Self {
        assert!(value >= 1, "scaler(_, value): value must be at least 1");
        self.scaler = Some((scaler, value));
        self
    }

    /// Platform execution timeout per job in milliseconds; 0 for none.
    pub const fn execution_timeout_ms(mut self, ms: u64) -> Self {
        self.execution_timeout_ms = ms;
        self
    }

    /// GPUs per worker (1..=8).
    pub const fn gpu_count(mut self, count: u32) -> Self {
        assert!(count >= 1 && count <= 8, "gpu_count(n): must be 1..=8");
        self.gpu_count = count;
        self
    }

    /// FlashBoot: faster cold starts from cached worker snapshots (default on).
    pub const fn flashboot(mut self, on: bool) -> Self {
        self.flashboot = on;
        self
    }

    /// Environment variables for the workers.
    pub const fn env(mut self, vars: &'static [(&'static str, &'static str)]) -> Self {
        self.env = vars;
        self
    }

    /// Network volumes to mount (one per datacenter).
    pub const fn volumes(mut self, volumes: &'static [Volume]) -> Self {
        self.volumes = volumes;
        self
    }

    /// Datacenters the workers may run in (default: all for GPU).
    pub const fn datacenters(mut self, datacenters: &'static [&'static str]) -> Self {
        self.datacenters = datacenters;
        self
    }

    /// Minimum CUDA version of the hosts (GPU; default `12.8`).
    pub const fn min_cuda_version(mut self, version: &'static str) -> Self {
        self.min_cuda_version = Some(version);
        self
    }

    /// Jobs one worker runs at once (queue endpoints; 1..=1000).
    pub const fn max_concurrency(mut self, jobs: u32) -> Self {
        assert!(
            jobs >= 1 && jobs <= 1000,
            "max_concurrency(n): must be 1..=1000"
        );
        self.max_concurrency = jobs;
        self
    }

    /// A worker image instead of the default Flash image.
    pub const fn image(mut self, image: &'static str) -> Self {
        self.image = Some(image);
        self
    }

    /// Container disk size in GB.
    pub const fn container_disk_gb(mut self, gb: u32) -> Self {
        self.container_disk_gb = Some(gb);
        self
    }

    /// Programs the workers need on `PATH` (`ffmpeg`, `espeak-ng`, ...): the worker image must
    /// provide them, and a worker checks at start that it does, failing with a clear list
    /// instead of at the first call.
    pub const fn system_dependencies(mut self, programs: &'static [&'static str]) -> Self {
        self.system_dependencies = programs;
        self
    }

    /// Programs the workers need on `PATH`.
    pub const fn required_programs(&self) -> &'static [&'static str] {
        self.system_dependencies
    }

    /// The resource's (endpoint's) name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Queue-based or load-balanced.
    pub const fn kind(&self) -> EndpointKind {
        self.kind
    }

    /// Whether this is a load-balanced endpoint.
    pub const fn is_load_balanced(&self) -> bool {
        matches!(self.kind, EndpointKind::LoadBalanced)
    }

    /// GPU or CPU, and which.
    pub const fn compute(&self) -> Compute {
        self.compute
    }

    /// Jobs one worker runs at once.
    pub const fn concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// The scaler and its value, with the kind's default when none was set.
    pub const fn scaler_setting(&self) -> (ScalerType, u32) {
        match (self.scaler, self.kind) {
            (Some(setting), _) => setting,
            (None, EndpointKind::Queue) => (ScalerType::QueueDelay, 4),
            (None, EndpointKind::LoadBalanced) => (ScalerType::RequestCount, 4),
        }
    }

    /// Problems that cannot be caught by the `const` builders alone (they depend on
    /// combinations), naming the resource.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.is_load_balanced() && self.scaler_setting().0 == ScalerType::QueueDelay {
            problems.push(format!(
                "resource `{}`: load-balanced endpoints scale by REQUEST_COUNT, not QUEUE_DELAY",
                self.name
            ));
        }
        if self.is_load_balanced() && self.max_concurrency > 1 {
            problems.push(format!(
                "resource `{}`: max_concurrency applies to queue endpoints; a load-balanced \
                 worker serves requests concurrently already",
                self.name
            ));
        }
        if let Compute::Cpu(_) = self.compute {
            if self.gpu_count != 1 {
                problems.push(format!(
                    "resource `{}`: gpu_count on a CPU resource",
                    self.name
                ));
            }
            if self.min_cuda_version.is_some() {
                problems.push(format!(
                    "resource `{}`: min_cuda_version on a CPU resource",
                    self.name
                ));
            }
        }
        for volume in self.volumes {
            if !self.datacenters.is_empty() && !self.datacenters.contains(&volume.datacenter) {
                problems.push(format!(
                    "resource `{}`: volume `{}` is in {}, which is not one of the resource's datacenters",
                    self.name, volume.name, volume.datacenter
                ));
            }
        }
        for (i, volume) in self.volumes.iter().enumerate() {
            if self.volumes[..i]
                .iter()
                .any(|other| other.datacenter == volume.datacenter)
            {
                problems.push(format!(
                    "resource `{}`: two volumes in datacenter {}; Runpod mounts one per datacenter",
                    self.name, volume.datacenter
                ));
            }
        }
        problems
    }

    /// This resource's manifest entry, with every option set (functions are added by the
    /// builder of the whole manifest).
    pub fn manifest_entry(&self) -> ResourceConfig {
        let gpu = matches!(self.compute, Compute::Gpu(_));
        let (scaler, scaler_value) = self.scaler_setting();
        let resource_type = match (self.kind, gpu) {
            (EndpointKind::Queue, true) => "LiveServerless",
            (EndpointKind::Queue, false) => "CpuLiveServerless",
            (EndpointKind::LoadBalanced, true) => "LiveLoadBalancer",
            (EndpointKind::LoadBalanced, false) => "CpuLiveLoadBalancer",
        };
        let datacenters: &[&str] = if self.datacenters.is_empty() && gpu {
            ALL_DATACENTERS
        } else {
            self.datacenters
        };
        let volumes: Vec<ManifestVolume> = self
            .volumes
            .iter()
            .map(|volume| ManifestVolume {
                name: Some(volume.name.to_owned()),
                size: Some(u64::from(volume.size_gb)),
                data_center_id: Some(volume.datacenter.to_owned()),
                ..ManifestVolume::default()
            })
            .collect();
        let (network_volume, network_volumes) = match volumes.len() {
            0 => (None, None),
            1 => (volumes.into_iter().next(), None),
            _ => (None, Some(volumes)),
        };
        ResourceConfig {
            resource_type: Some(resource_type.to_owned()),
            is_load_balanced: Some(self.is_load_balanced()),
            max_concurrency: (!self.is_load_balanced()).then_some(self.max_concurrency),
            image_name: self.image.map(str::to_owned),
            gpu_ids: match self.compute {
                Compute::Gpu(pools) => Some(
                    pools
                        .iter()
                        .map(|pool| pool.pool_id())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Compute::Cpu(_) => None,
            },
            instance_ids: match self.compute {
                Compute::Cpu(types) => Some(types.iter().map(|t| (*t).to_owned()).collect()),
                Compute::Gpu(_) => None,
            },
            workers_min: Some(self.workers_min),
            workers_max: Some(self.workers_max),
            idle_timeout: Some(self.idle_timeout_secs),
            scaler_type: Some(scaler.as_str().to_owned()),
            scaler_value: Some(scaler_value),
            locations: (!datacenters.is_empty()).then(|| datacenters.join(",")),
            min_cuda_version: gpu.then(|| self.min_cuda_version.unwrap_or("12.8").to_owned()),
            env: (!self.env.is_empty()).then(|| {
                self.env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<IndexMap<_, _>>()
            }),
            network_volume,
            network_volumes,
            template: self.container_disk_gb.map(|gb| TemplateConfig {
                container_disk_in_gb: Some(u64::from(gb)),
                ..TemplateConfig::default()
            }),
            gpu_count: gpu.then_some(self.gpu_count),
            execution_timeout_ms: Some(self.execution_timeout_ms),
            flashboot: Some(self.flashboot),
            system_dependencies: (!self.system_dependencies.is_empty()).then(|| {
                self.system_dependencies
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect()
            }),
            ..ResourceConfig::default()
        }
    }
}
