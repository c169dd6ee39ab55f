//! The manifest as the State Manager stores it, edited in place.
//!
//! A build's manifest travels as raw JSON: `flash deploy` writes deploy outputs into it
//! (`endpoint_id`, `deploy_hash`, `resources_endpoints`), `flash undeploy` takes them out, and a
//! worker may record state under its resource. [`ManifestDocument`] is the one place those
//! edits happen. It works on the JSON as read, so every key, known to this crate or not,
//! survives an edit.

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// Keys of a resource entry that a deploy writes, not the user.
pub const DEPLOY_OUTPUT_KEYS: [&str; 3] = [ENDPOINT_ID, AI_KEY, DEPLOY_HASH];

const RESOURCES: &str = "resources";
const RESOURCES_ENDPOINTS: &str = "resources_endpoints";
const ENDPOINT_ID: &str = "endpoint_id";
const AI_KEY: &str = "aiKey";
const DEPLOY_HASH: &str = "deploy_hash";

/// A manifest's raw JSON, with the edits Flash makes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestDocument {
    root: Map<String, Value>,
}

impl ManifestDocument {
    /// Wraps `value`; anything but an object becomes an empty manifest.
    pub fn new(value: Value) -> Self {
        match value {
            Value::Object(root) => Self { root },
            _ => Self { root: Map::new() },
        }
    }

    /// The JSON, for writing back.
    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }

    /// The JSON.
    pub fn as_value(&self) -> Value {
        Value::Object(self.root.clone())
    }

    /// The resource entries, in document order (empty when absent or not an object).
    pub fn resources(&self) -> Map<String, Value> {
        match self.root.get(RESOURCES) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        }
    }

    fn resources_mut(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .root
            .entry(RESOURCES)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(map) => map,
            _ => unreachable!("made an object just above"),
        }
    }

    fn entry_mut(&mut self, resource: &str) -> Option<&mut Map<String, Value>> {
        self.resources_mut()
            .get_mut(resource)
            .and_then(Value::as_object_mut)
    }

    /// Resource name to endpoint URL (`resources_endpoints`).
    pub fn urls(&self) -> IndexMap<String, String> {
        match self.root.get(RESOURCES_ENDPOINTS) {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
            _ => IndexMap::new(),
        }
    }

    /// The endpoint id a deploy recorded for `resource`.
    pub fn endpoint_id(&self, resource: &str) -> Option<String> {
        self.output(resource, ENDPOINT_ID)
    }

    /// The deploy hash a deploy recorded for `resource`.
    pub fn deploy_hash(&self, resource: &str) -> Option<String> {
        self.output(resource, DEPLOY_HASH)
    }

    /// A string field of `resources[resource]`, read in place.
    fn output(&self, resource: &str, key: &str) -> Option<String> {
        self.root
            .get(RESOURCES)?
            .get(resource)?
            .get(key)?
            .as_str()
            .map(str::to_owned)
    }

    /// Removes every deploy output: what a fresh build's manifest starts as.
    pub fn strip_deploy_outputs(&mut self) {
        self.root.shift_remove(RESOURCES_ENDPOINTS);
        for entry in self.resources_mut().values_mut() {
            if let Some(entry) = entry.as_object_mut() {
                for key in DEPLOY_OUTPUT_KEYS {
                    entry.shift_remove(key);
                }
            }
        }
    }

    /// Records that `resource` is served by endpoint `endpoint_id` at `url`, provisioned with
    /// `deploy_hash`. A resource this manifest does not have is left alone.
    pub fn set_deployed(
        &mut self,
        resource: &str,
        endpoint_id: &str,
        deploy_hash: &str,
        url: &str,
    ) {
        let Some(entry) = self.entry_mut(resource) else {
            return;
        };
        entry.insert(ENDPOINT_ID.to_owned(), Value::from(endpoint_id));
        entry.insert(DEPLOY_HASH.to_owned(), Value::from(deploy_hash));
        self.urls_mut()
            .insert(resource.to_owned(), Value::from(url));
    }

    /// Copies from `previous` what it says is deployed for each resource both have (endpoint
    /// id, deploy hash, URL): until this build's own endpoints are provisioned, its peers find
    /// the ones that are running.
    pub fn carry_forward(&mut self, previous: &ManifestDocument) {
        let urls = previous.urls();
        let names: Vec<String> = self.resources().keys().cloned().collect();
        for name in names {
            let Some(old) = previous
                .resources()
                .get(&name)
                .and_then(Value::as_object)
                .cloned()
            else {
                continue;
            };
            let Some(entry) = self.entry_mut(&name) else {
                continue;
            };
            for key in [ENDPOINT_ID, DEPLOY_HASH] {
                if let Some(value) = old.get(key) {
                    entry.insert(key.to_owned(), value.clone());
                }
            }
            if let Some(url) = urls.get(&name) {
                self.urls_mut().insert(name, Value::from(url.as_str()));
            }
        }
    }

    /// Forgets the deploy outputs of every resource whose endpoint is in `endpoint_ids`; returns
    /// the resources forgotten.
    pub fn forget_endpoints(&mut self, endpoint_ids: &[&str]) -> Vec<String> {
        let mut forgotten = Vec::new();
        for (name, entry) in self.resources_mut().iter_mut() {
            let Some(entry) = entry.as_object_mut() else {
                continue;
            };
            let id = entry.get(ENDPOINT_ID).and_then(Value::as_str);
            if id.is_some_and(|id| endpoint_ids.contains(&id)) {
                for key in DEPLOY_OUTPUT_KEYS {
                    entry.shift_remove(key);
                }
                forgotten.push(name.clone());
            }
        }
        let urls = self.urls_mut();
        urls.retain(|name, _| !forgotten.contains(name));
        forgotten
    }

    /// Merges `data` into `resources[resource]` (shallow: its keys replace the entry's keys of
    /// the same name, others stay); a missing or non-object entry is replaced.
    pub fn merge_resource(&mut self, resource: &str, data: Map<String, Value>) {
        let resources = self.resources_mut();
        match resources.get_mut(resource) {
            Some(Value::Object(entry)) => entry.extend(data),
            _ => {
                resources.insert(resource.to_owned(), Value::Object(data));
            }
        }
    }

    /// Removes `resources[resource]`; whether it was there.
    pub fn remove_resource(&mut self, resource: &str) -> bool {
        // shift_remove keeps the order of the remaining resources (serde_json's preserve_order).
        self.resources_mut().shift_remove(resource).is_some()
    }

    fn urls_mut(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .root
            .entry(RESOURCES_ENDPOINTS)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(map) => map,
            _ => unreachable!("made an object just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(value: Value) -> ManifestDocument {
        ManifestDocument::new(value)
    }

    #[test]
    fn edits_keep_unknown_keys() {
        let mut m = doc(json!({"x": 1, "resources": {"a": {"y": 2, "endpoint_id": "old"}}}));
        m.strip_deploy_outputs();
        m.set_deployed("a", "ep1", "h1", "https://a");
        m.set_deployed("ghost", "ep2", "h2", "https://g");
        let v = m.into_value();
        assert_eq!(v["x"], 1);
        assert_eq!(v["resources"]["a"]["y"], 2);
        assert_eq!(v["resources"]["a"]["endpoint_id"], "ep1");
        assert_eq!(v["resources_endpoints"], json!({"a": "https://a"}));
        assert!(v["resources"].get("ghost").is_none());
    }

    #[test]
    fn carry_forward_copies_what_runs_for_resources_both_have() {
        let previous = doc(json!({
            "resources": {"a": {"endpoint_id": "e1", "deploy_hash": "h"}, "gone": {"endpoint_id": "e2"}},
            "resources_endpoints": {"a": "https://a", "gone": "https://gone"}
        }));
        let mut next = doc(json!({"resources": {"a": {}, "new": {}}}));
        next.carry_forward(&previous);
        assert_eq!(next.endpoint_id("a").as_deref(), Some("e1"));
        assert_eq!(next.deploy_hash("a").as_deref(), Some("h"));
        assert_eq!(
            next.urls().into_iter().collect::<Vec<_>>(),
            [("a".into(), "https://a".into())]
        );
        assert_eq!(next.endpoint_id("new"), None);
    }

    #[test]
    fn forgetting_an_endpoint_drops_its_outputs_and_url() {
        let mut m = doc(json!({
            "resources": {"a": {"endpoint_id": "e1", "aiKey": "k"}, "b": {"endpoint_id": "e2"}},
            "resources_endpoints": {"a": "https://a", "b": "https://b"}
        }));
        assert_eq!(m.forget_endpoints(&["e1"]), ["a"]);
        assert_eq!(m.endpoint_id("a"), None);
        assert!(m.resources()["a"].get("aiKey").is_none());
        assert_eq!(m.urls().keys().collect::<Vec<_>>(), ["b"]);
    }
}
