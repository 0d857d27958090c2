//! Recipes: which encoding each tensor gets, from rules on its name and rank.
//!
//! A recipe is a list of rules tried in order; the first rule that matches a tensor decides. A rule
//! matches on a name pattern (`*` any run of characters, `?` one character, everything else
//! literal, case ignored), on the tensor's rank, or both. Its `type` is an encoding name (`q4k`, `q8`, `mxfp4`,
//! `f16`, ...), `"raw"` (keep the source bytes as they are) or `"default"` (the recipe's
//! default type, which `--type` overrides). Tensors no rule matches get the default type.
//!
//! ```toml
//! default = "q4k"
//! [[rule]]
//! rank = 1
//! type = "raw"
//! [[rule]]
//! pattern = "*embed*"
//! type = "q8"
//! ```
//!
//! Whatever a recipe says, only F32/F16/BF16 tensors are quantized; other dtypes stay raw.

use crate::error::{ConvertError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tessera_format::Encoding;

/// The default type of the built-in recipe. On MiniLM, `q4` has the same error as `q4k` (rel.
/// RMSE 8.27e-2 vs 8.30e-2 on `encoder.layer.0.intermediate.dense.weight`) at 0.25 more bits per
/// weight, and the reference quantizer is 2.5x faster on it, which keeps conversion of a small
/// model within seconds. Use `--type q4k` for the smaller file.
pub const DEFAULT_TYPE: &str = "q4";
/// The 8-bit type of the built-in recipe's embedding rule: OCP MXINT8 (rel. RMSE 7.5e-3 on
/// Gaussian data, vs 4.6e-3 for `q8`), whose quantizer is twenty times faster than `q8`'s search.
pub const EMBEDDING_TYPE: &str = "mxint8";

/// What a rule assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Store the source bytes unchanged.
    Raw,
    /// Convert to this encoding (a block encoding, or a raw float type).
    Encode(Encoding),
}

/// One rule as written in TOML.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    #[serde(rename = "type")]
    pub choice: String,
}

/// A recipe as written in TOML.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default = "default_type")]
    pub default: String,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

fn default_type() -> String {
    DEFAULT_TYPE.into()
}

impl Recipe {
    /// The built-in recipe: 1-D tensors, norms and biases raw; embeddings at 8 bits
    /// ([`EMBEDDING_TYPE`]); the rest at `default`.
    pub fn builtin(default: &str) -> Recipe {
        let rule = |pattern: Option<&str>, rank: Option<usize>, choice: &str| Rule {
            pattern: pattern.map(String::from),
            rank,
            choice: choice.into(),
        };
        Recipe {
            default: default.into(),
            rules: vec![
                rule(None, Some(0), "raw"),
                rule(None, Some(1), "raw"),
                rule(Some("*norm*"), None, "raw"),
                rule(Some("*bias"), None, "raw"),
                rule(Some("*embed*"), None, EMBEDDING_TYPE),
                rule(Some("*wte*"), None, EMBEDDING_TYPE),
                rule(Some("*wpe*"), None, EMBEDDING_TYPE),
            ],
        }
    }

    /// `--type X` without a recipe file: every float tensor of rank >= 2 at `X` (embeddings
    /// too), and 1-D tensors raw.
    pub fn uniform(default: &str) -> Recipe {
        let mut r = Recipe::builtin(default);
        r.rules.truncate(2);
        r
    }

    pub fn from_toml(path: &Path, text: &str) -> Result<Recipe> {
        let r: Recipe = toml::from_str(text).map_err(|e| ConvertError::BadRecipe {
            path: path.into(),
            reason: e.to_string().lines().next().unwrap_or("").to_string(),
        })?;
        r.check().map_err(|reason| ConvertError::BadRecipe {
            path: path.into(),
            reason,
        })?;
        Ok(r)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every type named must parse.
    pub fn check(&self) -> std::result::Result<(), String> {
        parse_choice(&self.default, None).map_err(|e| format!("default: {e}"))?;
        if self.default == "raw" || self.default == "default" {
            return Err("default must be an encoding".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            parse_choice(&r.choice, Some(Encoding::IntSym { bits: 4 }))
                .map_err(|e| format!("rule {}: {e}", i + 1))?;
            if r.pattern.is_none() && r.rank.is_none() {
                return Err(format!("rule {}: needs a pattern or a rank", i + 1));
            }
        }
        Ok(())
    }

    /// The choice for a tensor of this name and rank.
    pub fn choose(&self, name: &str, rank: usize) -> Choice {
        let default = parse_choice(&self.default, None).unwrap_or(Choice::Raw);
        for r in &self.rules {
            let name_ok = r.pattern.as_deref().is_none_or(|p| glob_match(p, name));
            let rank_ok = r.rank.is_none_or(|k| k == rank);
            if name_ok && rank_ok {
                let Choice::Encode(d) = default else {
                    return Choice::Raw;
                };
                return parse_choice(&r.choice, Some(d)).unwrap_or(Choice::Raw);
            }
        }
        default
    }
}

/// Parses a rule's type. `default` resolves `"default"`.
pub fn parse_choice(s: &str, default: Option<Encoding>) -> std::result::Result<Choice, String> {
    match s {
        "raw" => Ok(Choice::Raw),
        "default" => default
            .map(Choice::Encode)
            .ok_or_else(|| "\"default\" is not allowed here".into()),
        _ => match Encoding::from_name(s) {
            Some(e @ Encoding::Raw(t))
                if !matches!(
                    t,
                    tessera_format::RawType::F32
                        | tessera_format::RawType::F16
                        | tessera_format::RawType::BF16
                ) =>
            {
                Err(format!(
                    "{e} is not a float type a tensor can be converted to"
                ))
            }
            Some(e) => Ok(Choice::Encode(e)),
            None => Err(format!(
                "unknown encoding {s:?} (try q4, q4k, q8, mxfp4, bfp4, f16, raw)"
            )),
        },
    }
}

/// `*` matches any run (including none), `?` one character; the rest is literal, ignoring case
/// (so `*norm*` finds `LayerNorm`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic two-pointer walk with backtracking to the last star: linear in practice.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].to_lowercase().eq(n[ni].to_lowercase())) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_format::RawType;

    #[test]
    fn globs() {
        assert!(glob_match("*norm*", "encoder.layer.0.LayerNorm.weight"));
        assert!(!glob_match("*norm*", "encoder.layer.0.attention.weight"));
        assert!(glob_match("*.bias", "a.b.bias"));
        assert!(!glob_match("*.bias", "a.bias.x"));
        assert!(glob_match("layer.?.w", "layer.3.w"));
        assert!(!glob_match("layer.?.w", "layer.10.w"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn builtin_rules() {
        let r = Recipe::builtin("q4k");
        let q4k = Choice::Encode(Encoding::IntSuper { bits: 4 });
        let mxint8 = Choice::Encode(Encoding::Mx(tessera_format::MxType::Int8));
        assert_eq!(r.choose("model.layers.0.mlp.up_proj.weight", 2), q4k);
        assert_eq!(r.choose("model.embed_tokens.weight", 2), mxint8);
        assert_eq!(
            r.choose("model.layers.0.input_layernorm.weight", 1),
            Choice::Raw
        );
        assert_eq!(r.choose("model.norm.weight", 2), Choice::Raw);
        assert_eq!(r.choose("x.bias", 2), Choice::Raw);
        let u = Recipe::uniform("mxfp4");
        let mx = Choice::Encode(Encoding::from_name("mxfp4").unwrap());
        assert_eq!(u.choose("model.embed_tokens.weight", 2), mx);
        assert_eq!(u.choose("x.bias", 1), Choice::Raw);
    }

    #[test]
    fn toml_round_trip_and_errors() {
        let p = Path::new("r.toml");
        let text = "default = \"q5\"\n[[rule]]\npattern = \"*attn*\"\ntype = \"q8a\"\n[[rule]]\nrank = 3\ntype = \"default\"\n";
        let r = Recipe::from_toml(p, text).unwrap();
        assert_eq!(
            r.choose("h.attn.w", 2),
            Choice::Encode(Encoding::IntAffine { bits: 8 })
        );
        assert_eq!(
            r.choose("conv", 3),
            Choice::Encode(Encoding::IntSym { bits: 5 })
        );
        assert_eq!(Recipe::from_toml(p, &r.to_toml()).unwrap(), r);
        assert_eq!(
            r.choose("w", 2),
            Choice::Encode(Encoding::IntSym { bits: 5 })
        );
        let f16 = Recipe::from_toml(p, "default = \"f16\"").unwrap();
        assert_eq!(
            f16.choose("w", 2),
            Choice::Encode(Encoding::Raw(RawType::F16))
        );
        for bad in [
            "default = \"q9\"",
            "default = \"i64\"",
            "[[rule]]\ntype = \"q4\"",
            "[[rule]]\npattern = \"x\"\ntype = \"nope\"",
            "colour = 1",
        ] {
            let e = Recipe::from_toml(p, bad).unwrap_err().to_string();
            assert!(e.starts_with("r.toml: bad recipe"), "{bad}: {e}");
        }
    }
}
