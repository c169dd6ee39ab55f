//! The emulator's GraphQL schema against `crates/flash/graphql/runpod.graphql`, the curated SDL
//! of what Runpod's official clients use. The emulator must not accept what Runpod is not known
//! to accept:
//!
//! * every input type it serves is runpod.graphql's input type of the same name, field for
//!   field, with the same types (`!` exactly where runpod.graphql has it);
//! * every root query/mutation field, and every field of an output type, exists in
//!   runpod.graphql, with the same arguments of the same types;
//! * output fields have the same type, non-null where runpod.graphql's is (an output may be
//!   non-null where runpod.graphql's is nullable: every client copes with a value);
//! * enums have no value runpod.graphql lacks; custom scalars exist there.
//!
//! [`OUTPUT_EXCEPTIONS`] lists the only output fields allowed beyond runpod.graphql, each with
//! its reason.

use std::collections::BTreeMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

/// Output fields (type, field, reason) the emulator may serve although runpod.graphql lacks
/// them: only where our own client's documents need them. None do today: the client
/// (crates/flash-platform, crates/flash) compiles its documents against runpod.graphql itself.
const OUTPUT_EXCEPTIONS: &[(&str, &str, &str)] = &[];

#[derive(Debug)]
struct Field {
    args: BTreeMap<String, Type>,
    ty: Type,
}

#[derive(Debug)]
enum Def {
    Object(BTreeMap<String, Field>),
    Input(BTreeMap<String, Type>),
    Enum(Vec<String>),
    Scalar,
    Other,
}

#[derive(Debug)]
struct Sdl {
    types: BTreeMap<String, Def>,
    query: String,
    mutation: String,
}

fn parse(what: &str, text: &str) -> Sdl {
    let doc = parse_schema(text).unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
    let mut sdl = Sdl {
        types: BTreeMap::new(),
        query: "Query".to_owned(),
        mutation: "Mutation".to_owned(),
    };
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                if let Some(q) = &s.node.query {
                    sdl.query = q.node.to_string();
                }
                if let Some(m) = &s.node.mutation {
                    sdl.mutation = m.node.to_string();
                }
            }
            TypeSystemDefinition::Type(t) => {
                let t = t.node;
                let def = match t.kind {
                    TypeKind::Object(o) => Def::Object(
                        o.fields
                            .into_iter()
                            .map(|f| {
                                let f = f.node;
                                let args = f
                                    .arguments
                                    .into_iter()
                                    .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                                    .collect();
                                (
                                    f.name.node.to_string(),
                                    Field {
                                        args,
                                        ty: f.ty.node,
                                    },
                                )
                            })
                            .collect(),
                    ),
                    TypeKind::InputObject(i) => Def::Input(
                        i.fields
                            .into_iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                            .collect(),
                    ),
                    TypeKind::Enum(e) => Def::Enum(
                        e.values
                            .into_iter()
                            .map(|v| v.node.value.node.to_string())
                            .collect(),
                    ),
                    TypeKind::Scalar => Def::Scalar,
                    _ => Def::Other,
                };
                sdl.types.insert(t.name.node.to_string(), def);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    sdl
}

fn runpod() -> Sdl {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flash/graphql/runpod.graphql"
    );
    parse(
        "runpod.graphql",
        &std::fs::read_to_string(path).expect("runpod.graphql"),
    )
}

fn emulator() -> Sdl {
    parse("the emulator's SDL", &flash_emulator::sdl())
}

/// An output of type `emu` where Runpod's is `rp`: the same shape and named types, and not
/// nullable where Runpod's is non-null.
fn output_compatible(emu: &Type, rp: &Type) -> bool {
    if emu.nullable && !rp.nullable {
        return false;
    }
    match (&emu.base, &rp.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => output_compatible(a, b),
        _ => false,
    }
}

fn is_exception(ty: &str, field: &str) -> bool {
    OUTPUT_EXCEPTIONS
        .iter()
        .any(|(t, f, _)| *t == ty && *f == field)
}

/// Arguments of `emu_field` against `rp_field`'s: the same names, the same types.
fn check_args(at: &str, emu: &Field, rp: &Field, problems: &mut Vec<String>) {
    for (name, ty) in &emu.args {
        match rp.args.get(name) {
            None => problems.push(format!("{at}: argument {name} is not in runpod.graphql")),
            Some(rp_ty) if rp_ty != ty => problems.push(format!(
                "{at}: argument {name} is {ty}, runpod.graphql has {rp_ty}"
            )),
            Some(_) => {}
        }
    }
    for name in rp.args.keys() {
        if !emu.args.contains_key(name) {
            problems.push(format!(
                "{at}: argument {name} of runpod.graphql is missing"
            ));
        }
    }
}

/// Everything `emu` serves that `rp` does not allow.
fn problems(emu: &Sdl, rp: &Sdl) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, def) in &emu.types {
        // Root types are matched by role, the others by name.
        let rp_name = if *name == emu.query {
            rp.query.clone()
        } else if *name == emu.mutation {
            rp.mutation.clone()
        } else {
            name.clone()
        };
        let rp_def = rp.types.get(&rp_name);
        match (def, rp_def) {
            (Def::Input(fields), Some(Def::Input(rp_fields))) => {
                for (field, ty) in fields {
                    match rp_fields.get(field) {
                        None => problems.push(format!(
                            "input {name}.{field} is not in runpod.graphql's {name}"
                        )),
                        Some(rp_ty) if rp_ty != ty => problems.push(format!(
                            "input {name}.{field} is {ty}, runpod.graphql has {rp_ty}"
                        )),
                        Some(_) => {}
                    }
                }
                for field in rp_fields.keys() {
                    if !fields.contains_key(field) {
                        problems.push(format!(
                            "input {name}.{field} of runpod.graphql is missing from the emulator"
                        ));
                    }
                }
            }
            (Def::Object(fields), Some(Def::Object(rp_fields))) => {
                for (field, f) in fields {
                    let at = format!("{name}.{field}");
                    match rp_fields.get(field) {
                        None if is_exception(name, field) => {}
                        None => problems.push(format!(
                            "{at} is not in runpod.graphql's {rp_name} (not an OUTPUT_EXCEPTION)"
                        )),
                        Some(rp_f) => {
                            if !output_compatible(&f.ty, &rp_f.ty) {
                                problems.push(format!(
                                    "{at} is {}, runpod.graphql has {}",
                                    f.ty, rp_f.ty
                                ));
                            }
                            check_args(&at, f, rp_f, &mut problems);
                        }
                    }
                }
            }
            (Def::Enum(values), Some(Def::Enum(rp_values))) => {
                for v in values {
                    if !rp_values.contains(v) {
                        problems.push(format!("enum {name} value {v} is not in runpod.graphql"));
                    }
                }
            }
            (Def::Scalar, Some(Def::Scalar)) => {}
            // Built-in scalars are not declared in runpod.graphql.
            (Def::Scalar, None)
                if ["String", "Int", "Float", "Boolean", "ID"].contains(&name.as_str()) => {}
            (Def::Other, _) => problems.push(format!("{name}: unexpected kind of type")),
            (_, None) => problems.push(format!("type {name} is not in runpod.graphql")),
            (_, Some(_)) => problems.push(format!(
                "{name} is a different kind of type in runpod.graphql"
            )),
        }
    }
    problems
}

#[test]
fn the_emulator_schema_serves_nothing_runpod_graphql_lacks() {
    let problems = problems(&emulator(), &runpod());
    assert!(
        problems.is_empty(),
        "the emulator's schema differs from runpod.graphql:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_output_exception_is_still_needed() {
    let rp = runpod();
    let emu = emulator();
    for (ty, field, reason) in OUTPUT_EXCEPTIONS {
        assert!(!reason.is_empty(), "{ty}.{field}: give a reason");
        let served = matches!(emu.types.get(*ty), Some(Def::Object(f)) if f.contains_key(*field));
        assert!(
            served,
            "{ty}.{field} is no longer served: drop the exception"
        );
        let known = matches!(rp.types.get(*ty), Some(Def::Object(f)) if f.contains_key(*field));
        assert!(
            !known,
            "{ty}.{field} is in runpod.graphql now: drop the exception"
        );
    }
}

/// The comparison catches what it must: each change of the emulator's SDL below is reported,
/// naming the field.
#[test]
fn the_comparison_catches_extra_fields_and_weaker_types() {
    let rp = runpod();
    let sdl = flash_emulator::sdl();
    let cases = [
        // An input field runpod.graphql lacks.
        (
            "input EndpointInput {",
            "\tworkersMax: Int\n",
            "\tworkersMax: Int\n\tworkersStandby: Int\n",
            "EndpointInput.workersStandby",
        ),
        // A weaker input type.
        (
            "input SaveTemplateInput {",
            "\tenv: [EnvironmentVariableInput!]!\n",
            "\tenv: [EnvironmentVariableInput!]\n",
            "SaveTemplateInput.env",
        ),
        // A stricter one (a client leaving the field out would be refused).
        (
            "input EndpointInput {",
            "\tgpuIds: String\n",
            "\tgpuIds: String!\n",
            "EndpointInput.gpuIds",
        ),
        // A root field runpod.graphql lacks.
        (
            "type Query {",
            "\tmyself: User!\n",
            "\tmyself: User!\n\tpodTemplates: [PodTemplate!]\n",
            "Query.podTemplates",
        ),
        // An argument runpod.graphql lacks.
        (
            "type Query {",
            "\tpodTemplate(id: String!): PodTemplate\n",
            "\tpodTemplate(id: String!, name: String): PodTemplate\n",
            "argument name",
        ),
        // An output field that is nullable where runpod.graphql's is not.
        (
            "type FlashArtifactUpload {",
            "\tuploadUrl: String!\n",
            "\tuploadUrl: String\n",
            "FlashArtifactUpload.uploadUrl",
        ),
        // An enum value runpod.graphql lacks.
        (
            "enum FlashBootType {",
            "\tFLASHBOOT\n",
            "\tFLASHBOOT\n\tOFF\n",
            "value OFF",
        ),
    ];
    for (within, from, to, expected) in cases {
        let start = sdl
            .find(within)
            .unwrap_or_else(|| panic!("{within} not in the SDL"));
        let end = start + sdl[start..].find('}').unwrap();
        let block = &sdl[start..end];
        assert!(block.contains(from), "{from:?} not in\n{block}");
        let changed = format!(
            "{}{}{}",
            &sdl[..start],
            block.replacen(from, to, 1),
            &sdl[end..]
        );
        let found = problems(&parse("the changed SDL", &changed), &rp);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{to:?} in {within} went unnoticed: {found:?}"
        );
    }
}

#[test]
fn runpod_graphql_is_read_in_full() {
    // Guards against comparing with an empty or truncated file.
    let rp = runpod();
    for input in [
        "EndpointInput",
        "EndpointTemplateInput",
        "SaveTemplateInput",
        "EnvironmentVariableInput",
    ] {
        assert!(
            matches!(rp.types.get(input), Some(Def::Input(f)) if !f.is_empty()),
            "{input}"
        );
    }
    assert!(
        matches!(rp.types.get(&rp.mutation), Some(Def::Object(f)) if f.contains_key("saveEndpoint"))
    );
    assert!(matches!(rp.types.get(&rp.query), Some(Def::Object(f)) if f.contains_key("myself")));
}
