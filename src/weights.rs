//! Trained weights for the MLP of SPEC 4.4, so that a network trained
//! elsewhere (PyTorch, JAX, NumPy) runs in the engine in place of SPEC's
//! default weights.
//!
//! A network is four `f32` tensors named as in SPEC 4.4: `w1` (`S ×
//! hidden`), `b1` (`hidden`), `w2` (`hidden × 4`) and `b2` (`4`), row-major.
//! They come from a [safetensors] file (`--weights FILE`; what PyTorch's
//! `safetensors.torch.save_file` and NumPy's `safetensors.numpy.save_file`
//! write) or, from Python, as arrays. Either way they go through
//! [`from_tensors`], the one place that checks them against the model:
//! every tensor present, shapes matching `--channels` and `--hidden`, every
//! value finite. Other tensors in a file are ignored, as unknown columns of
//! a scenario file are.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use std::path::Path;

use ndarray::{Array1, Array2};

use crate::sim::inference::OUTPUTS;
use crate::sim::{Mlp, ModelConfig};

/// The tensors of a network, in the order SPEC 4.4 names them.
pub const TENSORS: [&str; 4] = ["w1", "b1", "w2", "b2"];

/// One tensor as given: its shape and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The shape each of [`TENSORS`] must have for `config`.
pub fn expected_shape(name: &str, config: &ModelConfig) -> Vec<usize> {
    match name {
        "w1" => vec![config.channels, config.hidden],
        "b1" => vec![config.hidden],
        "w2" => vec![config.hidden, OUTPUTS],
        "b2" => vec![OUTPUTS],
        _ => unreachable!("not a tensor of the network: {name}"),
    }
}

/// The network of tensors `w1`, `b1`, `w2`, `b2` (looked up by `get`),
/// checked against `config`. The error names the tensor and says what was
/// expected.
pub fn from_tensors(
    config: &ModelConfig,
    mut get: impl FnMut(&str) -> Result<Option<Tensor>, String>,
) -> Result<Mlp, String> {
    let mut take = |name: &str| -> Result<Vec<f32>, String> {
        let want = expected_shape(name, config);
        let tensor = get(name)?.ok_or_else(|| {
            format!("missing tensor '{name}': expected {} (float32, shape {want:?})", TENSORS.join(", "))
        })?;
        if tensor.shape != want {
            return Err(format!(
                "tensor '{name}' has shape {:?}, expected {want:?} (--channels {}, --hidden {}, {OUTPUTS} outputs)",
                tensor.shape, config.channels, config.hidden
            ));
        }
        if let Some(i) = tensor.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "tensor '{name}' holds {} at flat index {i}: expected finite values",
                tensor.values[i]
            ));
        }
        Ok(tensor.values)
    };
    let (s, h) = (config.channels, config.hidden);
    let w1 = Array2::from_shape_vec((s, h), take("w1")?).expect("shape checked");
    let b1 = Array1::from_vec(take("b1")?);
    let w2 = Array2::from_shape_vec((h, OUTPUTS), take("w2")?).expect("shape checked");
    let b2 = Array1::from_vec(take("b2")?);
    Ok(Mlp { w1, b1, w2, b2 })
}

/// The network in the safetensors file `path`, checked against `config`.
/// Errors name the file.
pub fn load(path: &Path, config: &ModelConfig) -> Result<Mlp, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read weights: {e}"))?;
    from_safetensors(&bytes, config).map_err(|e| format!("{name}: {e}"))
}

/// The network in a safetensors file's bytes.
pub fn from_safetensors(bytes: &[u8], config: &ModelConfig) -> Result<Mlp, String> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a safetensors file ({e}): expected tensors {}", TENSORS.join(", ")))?;
    from_tensors(config, |name| {
        let Ok(view) = file.tensor(name) else { return Ok(None) };
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format!("tensor '{name}' is {:?}, expected F32 (float32)", view.dtype()));
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Some(Tensor { shape: view.shape().to_vec(), values }))
    })
}

/// `mlp` as a safetensors file's bytes (`f32`, little-endian), the
/// tensors named as [`from_safetensors`] reads them.
pub fn to_safetensors(mlp: &Mlp) -> Vec<u8> {
    let parts: [(&str, Vec<usize>, Vec<u8>); 4] = [
        ("w1", mlp.w1.shape().to_vec(), le_bytes(mlp.w1.iter())),
        ("b1", mlp.b1.shape().to_vec(), le_bytes(mlp.b1.iter())),
        ("w2", mlp.w2.shape().to_vec(), le_bytes(mlp.w2.iter())),
        ("b2", mlp.b2.shape().to_vec(), le_bytes(mlp.b2.iter())),
    ];
    let views = parts.iter().map(|(name, shape, bytes)| {
        (
            *name,
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).expect("sizes agree"),
        )
    });
    safetensors::serialize(views, None).expect("four small tensors serialise")
}

fn le_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_round_trips_through_safetensors() {
        let config = ModelConfig { channels: 3, hidden: 5, ..ModelConfig::default() };
        let mut mlp = Mlp::default_for(&config);
        mlp.b1 = Array1::from_iter((0..5).map(|i| i as f32 * 0.25 - 0.5));
        mlp.b2 = Array1::from_vec(vec![-1.0, 0.0, f32::MIN_POSITIVE, 2.5]);
        let bytes = to_safetensors(&mlp);
        assert_eq!(from_safetensors(&bytes, &config), Ok(mlp));
    }

    /// A tensor as written to a test file: name, type, shape, bytes.
    type Part = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

    #[test]
    fn every_wrong_file_is_refused_with_the_tensor_named() {
        let config = ModelConfig::default();
        let good = Mlp::default_for(&config);
        let with = |edit: &dyn Fn(&mut Vec<Part>)| {
            let mut parts = vec![
                ("w1".to_string(), safetensors::Dtype::F32, vec![8, 16], le_bytes(good.w1.iter())),
                ("b1".to_string(), safetensors::Dtype::F32, vec![16], le_bytes(good.b1.iter())),
                ("w2".to_string(), safetensors::Dtype::F32, vec![16, 4], le_bytes(good.w2.iter())),
                ("b2".to_string(), safetensors::Dtype::F32, vec![4], le_bytes(good.b2.iter())),
            ];
            edit(&mut parts);
            let views = parts
                .iter()
                .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()));
            from_safetensors(&safetensors::serialize(views, None).unwrap(), &config)
        };
        assert_eq!(with(&|_| {}), Ok(good.clone()));
        // An extra tensor is ignored.
        assert_eq!(with(&|p| p.push(("extra".into(), safetensors::Dtype::F32, vec![1], vec![0; 4]))), Ok(good.clone()));
        let err = |r: Result<Mlp, String>| r.expect_err("accepted");
        let e = err(with(&|p| p.retain(|t| t.0 != "b2")));
        assert!(e.contains("missing tensor 'b2'"), "{e}");
        let e = err(with(&|p| p[0].2 = vec![16, 8]));
        assert!(e.contains("'w1' has shape [16, 8], expected [8, 16]"), "{e}");
        let e = err(with(&|p| {
            p[2] = ("w2".into(), safetensors::Dtype::F64, vec![16, 4], vec![0; 16 * 4 * 8]);
        }));
        assert!(e.contains("'w2' is F64, expected F32"), "{e}");
        let e = err(with(&|p| p[1].3[4..8].copy_from_slice(&f32::NAN.to_le_bytes())));
        assert!(e.contains("'b1' holds NaN at flat index 1"), "{e}");
        let e = err(from_safetensors(b"not a file", &config));
        assert!(e.contains("not a safetensors file"), "{e}");
    }
}
