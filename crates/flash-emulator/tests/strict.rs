//! The emulator rejects what Runpod rejects, with GraphQL errors naming the endpoint or template
//! and the field (tools/golden/NOTES.md §10), and accepts what the official clients really send
//! (tests/fixtures/golden).

mod common;

use common::*;
use flash_contract::runpod;
use flash_emulator::EmulatorHandle;
use serde_json::{Value, json};

const SAVE_TEMPLATE: &str = "mutation saveTemplate($input: SaveTemplateInput) { saveTemplate(input: $input) { id name env { key value } } }";

/// The message of the one error of a GraphQL answer that must fail, and that `data` holds no
/// result.
fn error_of(answer: &Value) -> String {
    let errors = answer["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an error: {answer}"));
    assert_eq!(errors.len(), 1, "{answer}");
    let data = &answer["data"];
    assert!(
        data.is_null() || data.as_object().unwrap().values().all(Value::is_null),
        "{answer}"
    );
    errors[0]["message"].as_str().unwrap().to_owned()
}

async fn save_endpoint_error(emu: &EmulatorHandle, input: Value) -> String {
    error_of(&gql_raw(emu, SAVE_ENDPOINT, json!({ "input": input })).await)
}

async fn save_template_error(emu: &EmulatorHandle, input: Value) -> String {
    error_of(&gql_raw(emu, SAVE_TEMPLATE, json!({ "input": input })).await)
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

/// How many endpoints the emulator holds.
async fn endpoint_count(emu: &EmulatorHandle) -> usize {
    gql(emu, "query { myself { endpoints { id } } }", json!({})).await["myself"]["endpoints"]
        .as_array()
        .unwrap()
        .len()
}

/// A saveTemplate input with every field runpod-flash 1.21 sends.
fn template_input(name: &str) -> Value {
    json!({"name": name, "imageName": "img", "containerDiskInGb": 10, "dockerArgs": "",
           "env": [{"key": "A", "value": "1"}], "volumeInGb": 0})
}

#[tokio::test]
async fn template_and_template_id_together_are_rejected() {
    let emu = start().await;
    let first = save_endpoint(
        &emu,
        json!({"name": "one", "template": template("t-one", &[])}),
    )
    .await;
    let template_id = first["templateId"].as_str().unwrap().to_owned();

    let message = save_endpoint_error(
        &emu,
        json!({"name": "two", "templateId": template_id, "template": template("t-two", &[])}),
    )
    .await;
    assert_mentions(
        &message,
        &[
            "saveEndpoint",
            "endpoint two",
            "input.template",
            "input.templateId",
            "mutually exclusive",
        ],
    );
    // On update too.
    let message = save_endpoint_error(
        &emu,
        json!({"id": first["id"], "name": "one", "templateId": template_id, "template": template("t-one", &[])}),
    )
    .await;
    assert_mentions(&message, &["endpoint one", "mutually exclusive"]);

    // An explicit null is no value: absent and null both mean unset.
    let created = save_endpoint(
        &emu,
        json!({"name": "three", "templateId": null, "template": template("t-three", &[])}),
    )
    .await;
    assert!(created["templateId"].is_string());
    let updated = save_endpoint(
        &emu,
        json!({"id": first["id"], "name": "one", "templateId": template_id, "template": null}),
    )
    .await;
    assert_eq!(updated["templateId"], template_id.as_str());
    assert_eq!(endpoint_count(&emu).await, 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn inline_template_without_required_fields_is_rejected() {
    let emu = start().await;
    for field in ["imageName", "containerDiskInGb", "dockerArgs", "env"] {
        for how in ["absent", "null"] {
            let mut t = template("tpl", &[]);
            match how {
                "absent" => {
                    t.as_object_mut().unwrap().remove(field);
                }
                _ => t[field] = Value::Null,
            }
            let message = save_endpoint_error(&emu, json!({"name": "gw", "template": t})).await;
            assert_mentions(
                &message,
                &[
                    "saveEndpoint",
                    "endpoint gw",
                    "template tpl",
                    &format!("input.template.{field} is required"),
                ],
            );
        }
    }
    // Several at once are all named.
    let message =
        save_endpoint_error(&emu, json!({"name": "gw", "template": {"name": "tpl"}})).await;
    assert_mentions(
        &message,
        &[
            "input.template.imageName, input.template.containerDiskInGb, input.template.dockerArgs and input.template.env are required",
        ],
    );
    // The name is required by the schema itself.
    let mut t = template("tpl", &[]);
    t.as_object_mut().unwrap().remove("name");
    let message = save_endpoint_error(&emu, json!({"name": "gw", "template": t})).await;
    assert_mentions(
        &message,
        &[
            "argument \"input.template\", field \"name\"",
            "is required but not provided",
        ],
    );
    let t = template("  ", &[]);
    let message = save_endpoint_error(&emu, json!({"name": "gw", "template": t})).await;
    assert_mentions(
        &message,
        &["endpoint gw", "input.template.name must not be empty"],
    );
    // The same on update.
    let ep = save_endpoint(
        &emu,
        json!({"name": "gw", "template": template("tpl", &[])}),
    )
    .await;
    let mut t = template("tpl", &[]);
    t.as_object_mut().unwrap().remove("env");
    let message =
        save_endpoint_error(&emu, json!({"id": ep["id"], "name": "gw", "template": t})).await;
    assert_mentions(&message, &["endpoint gw", "input.template.env is required"]);
    assert_eq!(endpoint_count(&emu).await, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn save_template_without_required_fields_is_rejected() {
    let emu = start().await;
    for field in ["imageName", "containerDiskInGb", "dockerArgs"] {
        let mut input = template_input("tpl");
        input.as_object_mut().unwrap().remove(field);
        let message = save_template_error(&emu, input).await;
        assert_mentions(
            &message,
            &[
                "saveTemplate",
                "template tpl",
                &format!("input.{field} is required"),
            ],
        );
        let mut input = template_input("tpl");
        input[field] = Value::Null;
        let message = save_template_error(&emu, input).await;
        assert_mentions(&message, &[&format!("input.{field} is required")]);
    }
    // name, env and volumeInGb are non-null in the schema: GraphQL validation refuses them.
    for field in ["name", "env", "volumeInGb"] {
        let mut input = template_input("tpl");
        input.as_object_mut().unwrap().remove(field);
        let message = save_template_error(&emu, input).await;
        assert_mentions(
            &message,
            &[
                &format!("argument \"input\", field \"{field}\""),
                "is required but not provided",
            ],
        );
        let mut input = template_input("tpl");
        input[field] = Value::Null;
        let message = save_template_error(&emu, input).await;
        assert_mentions(&message, &["Invalid value for argument"]);
    }
    let message = save_template_error(&emu, json!(null)).await;
    assert_mentions(&message, &["saveTemplate", "input is required"]);
    // An unknown id.
    let mut input = template_input("tpl");
    input["id"] = json!("nope");
    let message = save_template_error(&emu, input).await;
    assert_mentions(
        &message,
        &["template tpl", "input.id", "template not found: nope"],
    );
    // With everything, it is created.
    let d = gql(&emu, SAVE_TEMPLATE, json!({"input": template_input("tpl")})).await;
    assert_eq!(d["saveTemplate"]["name"], "tpl");
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_gpu_pools_any_and_unknown_cpu_instances_are_rejected() {
    let emu = start().await;
    let gpu = |name: &str, gpu_ids: &str| json!({"name": name, "gpuIds": gpu_ids, "gpuCount": 1, "template": template(name, &[])});
    for (gpu_ids, expected) in [
        ("any", "\"any\" is not a GPU pool id"),
        ("ANY", "\"ANY\" is not a GPU pool id"),
        ("ADA_24,any", "\"any\" is not a GPU pool id"),
        ("RTX_4090", "unknown GPU pool id \"RTX_4090\""),
        ("ada_24", "unknown GPU pool id \"ada_24\""),
        ("NVIDIA L4", "unknown GPU pool id \"NVIDIA L4\""),
        ("", "has an empty item"),
        ("ADA_24,", "has an empty item"),
        ("-NVIDIA L4", "names no GPU pool"),
        ("ADA_24,-", "must negate a GPU type"),
        ("ADA_24,-AMPERE_24", "must negate a GPU type"),
    ] {
        let message = save_endpoint_error(&emu, gpu("g", gpu_ids)).await;
        assert_mentions(
            &message,
            &["saveEndpoint", "endpoint g", "input.gpuIds", expected],
        );
    }
    // The "any" message lists the pools to send instead.
    let message = save_endpoint_error(&emu, gpu("g", "any")).await;
    assert_mentions(&message, &[&runpod::GPU_POOLS.join(",")]);
    let message = save_endpoint_error(
        &emu,
        json!({"name": "g", "gpuIds": "ADA_24", "gpuCount": 0, "template": template("g", &[])}),
    )
    .await;
    assert_mentions(&message, &["endpoint g", "input.gpuCount must be >= 1"]);

    // What the official clients send is accepted: every pool (the expansion of "any") and
    // runpod-flash 1.21's pool-with-negations form.
    save_endpoint(&emu, gpu("all-pools", &runpod::GPU_POOLS.join(","))).await;
    let negations = "AMPERE_24,-NVIDIA GeForce RTX 3090,-NVIDIA RTX A5000";
    let ep = save_endpoint(&emu, gpu("negations", negations)).await;
    assert_eq!(ep["gpuIds"], negations);

    let message = save_endpoint_error(
        &emu,
        json!({"name": "c", "instanceIds": ["cpu3c-1-2", "cpu9x-1-2"], "template": template("c", &[])}),
    )
    .await;
    assert_mentions(
        &message,
        &[
            "endpoint c",
            "input.instanceIds",
            "unknown CPU instance id \"cpu9x-1-2\"",
        ],
    );
    for instance in runpod::CPU_INSTANCES {
        save_endpoint(
            &emu,
            json!({"name": instance, "instanceIds": [instance], "template": template(instance, &[])}),
        )
        .await;
    }
    // On update too.
    let message = save_endpoint_error(
        &emu,
        json!({"id": ep["id"], "name": "negations", "gpuIds": "any"}),
    )
    .await;
    assert_mentions(
        &message,
        &["endpoint negations", "\"any\" is not a GPU pool id"],
    );
    assert_eq!(endpoint_count(&emu).await, 2 + runpod::CPU_INSTANCES.len());
    emu.shutdown().await;
}

#[tokio::test]
async fn gpu_fields_on_a_cpu_endpoint_are_rejected() {
    let emu = start().await;
    for (field, value) in [
        ("gpuIds", json!("ADA_24")),
        ("gpuCount", json!(1)),
        ("minCudaVersion", json!("12.8")),
        ("allowedCudaVersions", json!("")),
    ] {
        let mut input =
            json!({"name": "cpu", "instanceIds": ["cpu3c-1-2"], "template": template("cpu", &[])});
        input[field] = value;
        let message = save_endpoint_error(&emu, input).await;
        assert_mentions(
            &message,
            &[
                "saveEndpoint",
                "endpoint cpu",
                "a CPU endpoint (instanceIds) takes no GPU fields",
                &format!("input.{field} is given"),
            ],
        );
    }
    let message = save_endpoint_error(
        &emu,
        json!({"name": "cpu", "instanceIds": ["cpu3c-1-2"], "gpuIds": "ADA_24", "gpuCount": 1,
               "template": template("cpu", &[])}),
    )
    .await;
    assert_mentions(&message, &["input.gpuIds and input.gpuCount are given"]);
    // An update of a CPU endpoint cannot add them either.
    let cpu = save_endpoint(
        &emu,
        json!({"name": "cpu", "instanceIds": ["cpu3c-1-2"], "template": template("cpu", &[])}),
    )
    .await;
    let message =
        save_endpoint_error(&emu, json!({"id": cpu["id"], "name": "cpu", "gpuCount": 1})).await;
    assert_mentions(&message, &["endpoint cpu", "input.gpuCount is given"]);
    // A GPU endpoint becoming a CPU one loses its GPU fields.
    let gpu = save_endpoint(
        &emu,
        json!({"name": "gpu", "gpuIds": "ADA_24", "gpuCount": 1, "minCudaVersion": "12.8",
               "template": template("gpu", &[])}),
    )
    .await;
    let now_cpu = save_endpoint(
        &emu,
        json!({"id": gpu["id"], "name": "gpu", "instanceIds": ["cpu3g-2-8"]}),
    )
    .await;
    assert_eq!(
        (
            &now_cpu["gpuIds"],
            &now_cpu["gpuCount"],
            &now_cpu["minCudaVersion"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(now_cpu["instanceIds"], json!(["cpu3g-2-8"]));
    emu.shutdown().await;
}

#[tokio::test]
async fn duplicate_template_names_are_rejected() {
    let emu = start().await;
    let a = save_endpoint(
        &emu,
        json!({"name": "a", "template": template("shared", &[])}),
    )
    .await;
    let b = save_endpoint(
        &emu,
        json!({"name": "b", "template": template("b-tpl", &[])}),
    )
    .await;
    let (a_tpl, b_tpl) = (
        a["templateId"].as_str().unwrap().to_owned(),
        b["templateId"].as_str().unwrap().to_owned(),
    );
    let expected = [
        "input.template.name",
        "a template named shared already exists",
    ];

    // A new endpoint with a name another template has.
    let message = save_endpoint_error(
        &emu,
        json!({"name": "c", "template": template("shared", &[])}),
    )
    .await;
    assert_mentions(
        &message,
        &["saveEndpoint", "endpoint c", "template shared", &a_tpl],
    );
    assert_mentions(&message, &expected);
    // Another endpoint's template renamed onto it, inline or by saveTemplate.
    let message = save_endpoint_error(
        &emu,
        json!({"id": b["id"], "name": "b", "template": template("shared", &[])}),
    )
    .await;
    assert_mentions(&message, &["endpoint b", "template shared"]);
    assert_mentions(&message, &expected);
    let mut input = template_input("shared");
    input["id"] = json!(b_tpl);
    let message = save_template_error(&emu, input).await;
    assert_mentions(
        &message,
        &[
            "saveTemplate",
            "template shared",
            "input.name",
            "a template named shared already exists",
        ],
    );
    // A new template by saveTemplate.
    let message = save_template_error(&emu, template_input("shared")).await;
    assert_mentions(
        &message,
        &["saveTemplate", "a template named shared already exists"],
    );

    // In-place updates of the same template keep their name.
    let updated = save_endpoint(
        &emu,
        json!({"id": a["id"], "name": "a", "template": template("shared", &[("V", "2")])}),
    )
    .await;
    assert_eq!(updated["templateId"], a_tpl.as_str(), "updated in place");
    let mut input = template_input("shared");
    input["id"] = json!(a_tpl);
    let d = gql(&emu, SAVE_TEMPLATE, json!({ "input": input })).await;
    assert_eq!(d["saveTemplate"]["id"], a_tpl.as_str());
    // A rename frees the old name.
    save_endpoint(
        &emu,
        json!({"id": a["id"], "name": "a", "template": template("renamed", &[])}),
    )
    .await;
    let c = save_endpoint(
        &emu,
        json!({"name": "c", "template": template("shared", &[])}),
    )
    .await;
    assert_ne!(c["templateId"], a_tpl.as_str());
    let d = gql(
        &emu,
        "query getTemplate($id: String!) { podTemplate(id: $id) { name } }",
        json!({ "id": a_tpl }),
    )
    .await;
    assert_eq!(d["podTemplate"]["name"], "renamed");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_new_endpoint_needs_a_template() {
    let emu = start().await;
    let message = save_endpoint_error(&emu, json!({"name": "bare", "workersMax": 1})).await;
    assert_mentions(
        &message,
        &[
            "saveEndpoint",
            "endpoint bare",
            "a new endpoint needs input.template (inline) or input.templateId",
        ],
    );
    let message = save_endpoint_error(
        &emu,
        json!({"name": "bare", "template": null, "templateId": null}),
    )
    .await;
    assert_mentions(&message, &["endpoint bare", "needs input.template"]);
    let message = save_endpoint_error(&emu, json!({"name": "bare", "templateId": "nope"})).await;
    assert_mentions(
        &message,
        &[
            "endpoint bare",
            "input.templateId",
            "template not found: nope",
        ],
    );
    assert_eq!(endpoint_count(&emu).await, 0, "nothing was stored");
    // An existing template by id, and an update without one, are fine.
    let d = gql(&emu, SAVE_TEMPLATE, json!({"input": template_input("tpl")})).await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "bare", "templateId": d["saveTemplate"]["id"]}),
    )
    .await;
    save_endpoint(
        &emu,
        json!({"id": ep["id"], "name": "bare", "workersMax": 2}),
    )
    .await;
    assert_eq!(endpoint_count(&emu).await, 1);
    emu.shutdown().await;
}

/// GraphQL validation refuses fields runpod.graphql does not have, in variables and literals,
/// and enum values it does not list.
#[tokio::test]
async fn unknown_input_fields_and_values_are_rejected() {
    let emu = start().await;
    let base = || json!({"name": "x", "template": template("x", &[])});
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut i = base();
                i["workersStandby"] = json!(0);
                i
            },
            "unknown field \"workersStandby\" of type \"EndpointInput\"",
        ),
        (
            {
                let mut i = base();
                i["template"]["readme"] = json!("");
                i
            },
            "unknown field \"readme\" of type \"EndpointTemplateInput\"",
        ),
        (
            {
                let mut i = base();
                i["template"]["volumeInGb"] = json!(0);
                i
            },
            "unknown field \"volumeInGb\" of type \"EndpointTemplateInput\"",
        ),
        (
            {
                let mut i = base();
                i["networkVolumeIds"] =
                    json!([{"networkVolumeId": "v", "dataCenterId": "EU-RO-1"}]);
                i
            },
            "unknown field \"dataCenterId\" of type \"EndpointNetworkVolumeInput\"",
        ),
        (
            {
                let mut i = base();
                i["flashBootType"] = json!("OFF");
                i
            },
            "enumeration type \"FlashBootType\" does not contain the value \"OFF\"",
        ),
        (
            {
                let mut i = base();
                i["template"]["env"] = json!([{"key": "A"}]);
                i
            },
            "\"input.template.env.0\", field \"value\" of type \"String!\" is required",
        ),
    ];
    for (input, expected) in cases {
        let message = save_endpoint_error(&emu, input).await;
        assert_mentions(&message, &["Invalid value for argument", expected]);
    }
    let mut input = template_input("t");
    input["startScript"] = json!("");
    let message = save_template_error(&emu, input).await;
    assert_mentions(
        &message,
        &["unknown field \"startScript\" of type \"SaveTemplateInput\""],
    );
    // In a literal document too.
    let answer = gql_raw(
        &emu,
        "mutation { saveEndpoint(input: {name: \"x\", workersStandby: 1}) { id } }",
        json!({}),
    )
    .await;
    assert_mentions(&error_of(&answer), &["unknown field \"workersStandby\""]);
    // An unknown root field.
    let answer = gql_raw(&emu, "query { podTemplates { id } }", json!({})).await;
    assert_mentions(&error_of(&answer), &["Unknown field \"podTemplates\""]);
    // FLASHBOOT is accepted, as a variable string and as an enum literal.
    let mut input = base();
    input["flashBootType"] = json!("FLASHBOOT");
    assert_eq!(
        save_endpoint(&emu, input).await["flashBootType"],
        "FLASHBOOT"
    );
    gql(
        &emu,
        "mutation { saveEndpoint(input: {name: \"y\", flashBootType: FLASHBOOT, template: {name: \"y\", imageName: \"i\", containerDiskInGb: 1, dockerArgs: \"\", env: []}}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(endpoint_count(&emu).await, 2);
    emu.shutdown().await;
}

/// Replaces every string of `value` that is a key of `map`.
fn substitute(value: &mut Value, map: &[(String, String)]) {
    match value {
        Value::String(s) => {
            if let Some((_, to)) = map.iter().find(|(from, _)| from == s) {
                *s = to.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, map)),
        Value::Object(fields) => fields.values_mut().for_each(|v| substitute(v, map)),
        _ => {}
    }
}

/// The `saveEndpoint` / `saveTemplate` requests of a recording, as (document, variables).
fn recorded(file: &str) -> Vec<(String, Value)> {
    let path = format!(
        "{}/../../tests/fixtures/golden/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let requests: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    requests
        .into_iter()
        .filter(|r| {
            ["saveEndpoint", "saveTemplate"]
                .contains(&r["body"]["operationName"].as_str().unwrap_or(""))
        })
        .map(|r| {
            (
                r["body"]["query"].as_str().unwrap().to_owned(),
                r["body"]["variables"].clone(),
            )
        })
        .collect()
}

/// Every saveEndpoint and saveTemplate of the official clients' recorded deploys (first deploy,
/// then the code-only redeploy: runpod-flash 1.21 updates by templateId + saveTemplate,
/// runpod 2.0 by an inline template) passes every rule, documents and variables verbatim but for
/// the ids.
#[tokio::test]
async fn the_official_clients_recorded_requests_pass_every_rule() {
    let emu = start().await;
    let mut replayed = 0;
    for client in ["flash-1.21", "runpod-2.0.0rc2"] {
        for app in ["gpu_queue", "cpu_queue", "lb_volume"] {
            let (_, env_id) = create_app_env(&emu, &format!("{client}-{app}")).await;
            let mut ids: Vec<(String, String)> = Vec::new();
            let mut files = vec![format!("{client}/{app}.json")];
            if app != "cpu_queue" {
                files.push(format!("{client}/{app}-code-change.json"));
            }
            for file in files {
                for (query, mut variables) in recorded(&file) {
                    let recorded_env = variables["input"]["flashEnvironmentId"].clone();
                    if let Some(recorded_env) = recorded_env.as_str() {
                        ids.push((recorded_env.to_owned(), env_id.clone()));
                    }
                    substitute(&mut variables, &ids);
                    let answer = gql_raw(&emu, &query, variables.clone()).await;
                    assert!(
                        answer.get("errors").is_none(),
                        "{file}: {answer}\nrequest: {variables}"
                    );
                    replayed += 1;
                    if let Some(ep) = answer["data"]["saveEndpoint"].as_object() {
                        // Creates: map the recorder's deterministic ids (one endpoint and one
                        // template per recording) to ours.
                        if variables["input"]["id"].is_null() {
                            ids.push((
                                "qayyymc7avcjwb".to_owned(),
                                ep["id"].as_str().unwrap().to_owned(),
                            ));
                            ids.push((
                                "c88orkgeqk".to_owned(),
                                ep["templateId"].as_str().unwrap().to_owned(),
                            ));
                        }
                    }
                }
            }
        }
    }
    assert_eq!(replayed, 12, "every recorded saveEndpoint/saveTemplate");
    emu.shutdown().await;
}
