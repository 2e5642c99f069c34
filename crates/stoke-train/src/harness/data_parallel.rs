//! Data parallelism on a [`Group`]: the parameters start equal (every rank initialises from
//! the same seed, and a resumed run loads the checkpoint rank 0 sends), each step's
//! gradients are averaged with one bucketed all-reduce, so every rank steps the same
//! optimizer on the same averaged gradient and the parameters stay equal without ever being
//! sent; after the first step the ranks check that they hold bit-identical parameters.
//!
//! Why no broadcast of the initial parameters (PyTorch DDP sends rank 0's): Burn draws a
//! parameter's initial values when it is first read, so a one-process run's initialisation
//! depends on the order its first forward pass reads them; ranks in their own processes
//! read them in that same order and so reproduce it exactly, where reading them all to send
//! them would draw them in another order. Ranks on threads share the process's generator and
//! draw theirs one at a time in visiting order ([`materialize`]), which equals the
//! one-process draw for models whose forward pass reads parameters in declaration order.
//!
//! The bucket is one `f32` buffer: a presence flag per float parameter (a parameter that
//! got no gradient on some rank counts as a zero gradient there, DDP's rule; one that got
//! none on any rank stays absent, so the optimizer skips it as in one process), then every
//! gradient in the module's visiting order, then the step's logged values (so the loss in
//! `metrics.jsonl` is the global batch's).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::collective::Group;
use crate::error::{Result, TrainError};

fn floats(data: TensorData, what: &str) -> Result<Vec<f32>> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Distributed(format!("reading {what}: {e:?}")))
}

/// Every float parameter's values, in visiting order.
fn flatten<M: Module>(model: &M) -> Result<Vec<f32>> {
    struct Collect {
        values: Vec<f32>,
        error: Option<TrainError>,
    }
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match floats(param.val().into_data(), "a parameter") {
                Ok(v) => self.values.extend(v),
                Err(e) => self.error = Some(e),
            }
        }
    }
    let mut collect = Collect { values: Vec::new(), error: None };
    model.visit(&mut collect);
    collect.error.map_or(Ok(collect.values), Err)
}

/// `model` with every parameter drawn: Burn initialises a parameter lazily, when it is
/// first read, so the draws happen here, in visiting order, and not whenever (and on which
/// thread) the first forward pass reads them.
pub fn materialize<M: Module>(model: M) -> M {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}

/// A hash of every float parameter's bits: ranks in step hold the same.
///
/// # Errors
/// A parameter that cannot be read.
pub fn parameter_hash<M: Module>(model: &M) -> Result<u64> {
    let bytes: Vec<u8> = flatten(model)?.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(super::collective::fnv1a(&bytes))
}

/// Averages `grads` and `values` (the step's logged numbers) over the ranks in one
/// all-reduce; returns the averaged gradients (on `device`, the one without autodiff) and
/// values.
///
/// # Errors
/// A collective failure; a gradient that cannot be read.
pub fn average<M: Module>(
    group: &Group,
    model: &M,
    device: &Device,
    mut grads: GradientsParams,
    values: &[f32],
) -> Result<(GradientsParams, Vec<f32>)> {
    if !group.is_distributed() {
        return Ok((grads, values.to_vec()));
    }
    struct Pack<'a> {
        grads: &'a mut GradientsParams,
        flags: Vec<f32>,
        values: Vec<f32>,
        error: Option<TrainError>,
    }
    impl ModuleVisitor for Pack<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.shape().num_elements();
            match self.grads.remove::<D>(param.id) {
                Some(grad) => {
                    self.flags.push(1.0);
                    match floats(grad.into_data(), "a gradient") {
                        Ok(v) => self.values.extend(v),
                        Err(e) => self.error = Some(e),
                    }
                }
                None => {
                    self.flags.push(0.0);
                    self.values.extend(std::iter::repeat_n(0.0, n));
                }
            }
        }
    }
    let mut pack = Pack { grads: &mut grads, flags: Vec::new(), values: Vec::new(), error: None };
    model.visit(&mut pack);
    if let Some(e) = pack.error {
        return Err(e);
    }
    let params = pack.flags.len();
    let mut bucket = pack.flags;
    bucket.extend(pack.values);
    bucket.extend_from_slice(values);
    group.all_reduce_mean(&mut bucket)?;
    let tail = bucket.split_off(bucket.len() - values.len());

    struct Unpack<'a> {
        grads: GradientsParams,
        flags: &'a [f32],
        values: &'a [f32],
        index: usize,
        at: usize,
        device: &'a Device,
    }
    impl ModuleVisitor for Unpack<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let shape = param.shape();
            let n = shape.num_elements();
            if self.flags[self.index] > 0.0 {
                let values = self.values[self.at..self.at + n].to_vec();
                let grad = Tensor::<D>::from_data(TensorData::new(values, shape), self.device);
                self.grads.register::<D>(param.id, grad);
            }
            self.index += 1;
            self.at += n;
        }
    }
    let (flags, values) = bucket.split_at(params);
    let mut unpack =
        Unpack { grads: GradientsParams::new(), flags, values, index: 0, at: 0, device };
    model.visit(&mut unpack);
    Ok((unpack.grads, tail))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;

    use burn::store::{BurnpackStore, ModuleStore, bridge};
    use burn::tensor::Device;

    use crate::harness::checkpoint;
    use crate::harness::collective::{Group, Threads};
    use crate::harness::run_dir::RunDir;
    use crate::harness::trainer::Batch;

    /// Every tensor of the latest checkpoint in `dir/checkpoints`, less the
    /// attention key biases (the middle third of a `qkv.bias`): softmax ignores a shift of
    /// one query's scores, so their exact gradient is zero and what reaches them is rounding
    /// noise, which Adam normalises into full-size steps; they move differently in any two
    /// runs that round differently, without changing what the network computes.
    fn checkpoint_tensors(dir: &Path) -> BTreeMap<String, Vec<f32>> {
        // A run holds config.json; a sub-run is its parent run's child.
        let trainer = RunDir::open(dir).unwrap_or_else(|_| {
            let name = dir.file_name().unwrap().to_str().unwrap();
            RunDir::open(dir.parent().unwrap()).unwrap().child(name).unwrap()
        });
        let (_, step_dir) = checkpoint::latest(&trainer).unwrap().expect("a checkpoint");
        let mut store = BurnpackStore::from_file(step_dir.join("model.bpk"));
        store
            .get_all_tensors()
            .unwrap()
            .iter()
            .map(|(name, t)| {
                let data = bridge::to_data(t).unwrap().convert::<f32>();
                let mut values = data.try_into_vec::<f32>().unwrap();
                if name.ends_with("qkv.bias") {
                    let third = values.len() / 3;
                    values.drain(third..2 * third);
                }
                (name.clone(), values)
            })
            .collect()
    }

    /// The largest difference between two checkpoints' tensors, relative to the largest
    /// parameter.
    fn relative_gap(a: &Path, b: &Path) -> f64 {
        worst_gap(a, b).0
    }

    /// [`relative_gap`] and the tensor where it is, for the latest checkpoints of two
    /// trainers' folders (runs or sub-runs).
    fn worst_gap(a: &Path, b: &Path) -> (f64, String) {
        let (a, b) = (checkpoint_tensors(a), checkpoint_tensors(b));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        let (mut gap, mut scale, mut worst) = (0.0f64, 0.0f64, String::new());
        for (name, x) in &a {
            for (u, v) in x.iter().zip(&b[name]) {
                if f64::from((u - v).abs()) > gap {
                    gap = f64::from((u - v).abs());
                    worst = name.clone();
                }
                scale = scale.max(f64::from(u.abs()));
            }
        }
        (gap / scale.max(1e-12), worst)
    }

    fn recipe_rate(run: &Path) -> f64 {
        RunDir::open(run).unwrap().read_config().unwrap()["learning_rate"].as_f64().unwrap()
    }

    fn train(recipe: &str, out: &Path, extra: &[&str]) {
        let out = out.to_str().unwrap();
        let mut args = vec!["--tiny", "--out", out];
        args.extend_from_slice(extra);
        crate::train_for_test(recipe, &args).unwrap();
    }

    /// The law that makes data parallelism trustworthy: N ranks with global batch B reach
    /// one process's parameters at batch B. Tolerance: the ranks average N partial means
    /// where one process takes one mean, so gradients differ in the last bits (f32 summation
    /// order), and Adam's normalisation carries that through the steps; 1e-5 of the largest
    /// parameter after the tiny runs' 30 to 60 steps (seen: about 1e-7), and 20 times less
    /// than a learning rate 1% off moves them (seen: 2.6e-3 on flow-2d, 8.8e-6 on the DiT
    /// digits recipe), so the tolerance is not vacuous.
    #[test]
    fn n_ranks_reach_the_parameters_of_one_process_at_the_same_global_batch() {
        let root = tempfile::tempdir().unwrap();
        // Threads share the process's generator, so this runs a model whose forward pass reads
        // its parameters in declaration order (see the module docs); the MPI test in the
        // suite runs the digits recipe too.
        for (recipe, batch) in [("flow-2d", "48")] {
            let one = root.path().join(format!("{recipe}-1"));
            train(recipe, &one, &["--batch-size", batch]);
            // The tolerance is tight: a learning rate 1% off moves the parameters further.
            let rate = (recipe_rate(&one) * 1.01).to_string();
            let other = root.path().join(format!("{recipe}-rate"));
            train(recipe, &other, &["--batch-size", batch, "--learning-rate", &rate]);
            let sensitivity = relative_gap(&one, &other);
            for ranks in [2, 3] {
                let many = root.path().join(format!("{recipe}-{ranks}"));
                let threads = format!("threads:{ranks}");
                train(recipe, &many, &["--batch-size", batch, "--distributed", &threads]);
                let gap = relative_gap(&one, &many);
                eprintln!("{recipe}: {ranks} ranks vs one process: relative gap {gap:.2e}");
                assert!(gap < 1e-5, "{recipe}, {ranks} ranks: parameters differ by {gap:.2e}");
                assert!(gap < sensitivity / 20.0, "{recipe}, {ranks} ranks: {gap:.2e}");
            }
        }
    }

    #[test]
    fn the_ranks_shares_partition_the_global_batch() {
        for ranks in 1..=4 {
            let rows: Vec<Vec<usize>> = Threads::group(ranks, Duration::from_secs(5))
                .into_iter()
                .map(|rank| {
                    let group = Group::new(rank);
                    let device = Device::flex();
                    let mut batch = Batch::for_rank(&device, &group);
                    batch.share_rows(12).unwrap().collect()
                })
                .collect();
            let all: Vec<usize> = rows.concat();
            assert_eq!(all, (0..12).collect::<Vec<_>>(), "{ranks} ranks");
            assert!(rows.iter().all(|r| r.len() == 12 / ranks));
        }
        let group = Group::new(Threads::group(5, Duration::from_secs(5)).remove(0));
        let device = Device::flex();
        let error = Batch::for_rank(&device, &group).share_rows(12).unwrap_err().to_string();
        assert!(error.contains("12 rows does not divide by the 5 ranks"), "{error}");
    }

    /// Data parallelism over real processes: `mpirun` starts this test binary once per rank
    /// with [`CHILD`] set, and only [`mpi_rank_entry_point`] selected.
    #[cfg(feature = "mpi")]
    mod mpi {
        use std::path::Path;
        use std::process::{Command, Output};

        use super::{recipe_rate, relative_gap, worst_gap};

        /// The variable that holds a rank's `stoke` arguments (a JSON list).
        const CHILD: &str = "STOKE_MPI_CHILD";
        /// A file whose appearance makes rank 1 kill itself (`KILL`) or stop (`STOP`).
        const FAULT_AT: &str = "STOKE_MPI_FAULT_AT";
        const FAULT: &str = "STOKE_MPI_FAULT";

        /// What each rank runs under `mpirun`; outside `mpirun` (no [`CHILD`]) it has
        /// nothing to do.
        #[test]
        fn mpi_rank_entry_point() {
            let Ok(args) = std::env::var(CHILD) else { return };
            let args: Vec<String> = serde_json::from_str(&args).unwrap();
            if let (Ok(path), Ok(signal)) = (std::env::var(FAULT_AT), std::env::var(FAULT))
                && std::env::var("OMPI_COMM_WORLD_RANK").as_deref() == Ok("1")
            {
                std::thread::spawn(move || {
                    while !Path::new(&path).exists() {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    let pid = std::process::id().to_string();
                    let _ = Command::new("kill").args([format!("-{signal}"), pid]).status();
                });
            }
            if let Err(e) = crate::cli::main(&args) {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }

        /// `stoke train ARGS --distributed mpi` on `ranks` processes.
        fn mpirun(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
            let mut all = vec!["train"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["--distributed", "mpi"]);
            let exe = std::env::current_exe().unwrap();
            let mut command = Command::new("mpirun");
            command
                .args(["--oversubscribe", "-np", &ranks.to_string()])
                .arg(exe)
                .args(["--exact", "harness::data_parallel::tests::mpi::mpi_rank_entry_point"])
                .args(["--nocapture", "--test-threads", "1"])
                .env(CHILD, serde_json::to_string(&all).unwrap())
                .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                .env("OMPI_MCA_btl", "self,tcp")
                .env_remove("RUST_TEST_THREADS");
            for (key, value) in env {
                command.env(key, value);
            }
            command.output().expect("mpirun runs (apt-get install openmpi-bin libopenmpi-dev)")
        }

        fn train(ranks: usize, args: &[&str]) {
            let out = mpirun(ranks, args, &[]);
            assert!(
                out.status.success(),
                "mpirun -np {ranks} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        /// The equivalence law over processes, for the 2-d flow, the DiT digits recipe and
        /// SigLIP (its loss sharded over the ranks, text blocks passed round the ring): ranks
        /// in their own processes draw Burn's lazy initialisation exactly as one process
        /// does, so the gap is only the f32 summation order (see the thread test).
        #[test]
        fn mpi_ranks_reach_the_parameters_of_one_process() {
            let root = tempfile::tempdir().unwrap();
            for (recipe, batch) in
                [("flow-2d", "48"), ("flow-digits", "24"), ("siglip-digits", "24")]
            {
                let one = root.path().join(format!("{recipe}-1"));
                let one_str = one.to_str().unwrap();
                train(1, &[recipe, "--tiny", "--batch-size", batch, "--out", one_str]);
                let rate = (recipe_rate(&one) * 1.01).to_string();
                let other = root.path().join(format!("{recipe}-rate"));
                let other_str = other.to_str().unwrap();
                let args = [recipe, "--tiny", "--batch-size", batch, "--learning-rate", &rate];
                train(1, &[&args[..], &["--out", other_str]].concat());
                let sensitivity = relative_gap(&one, &other);
                eprintln!("{recipe}: learning rate x 1.01: relative gap {sensitivity:.2e}");
                for ranks in [2, 3] {
                    let many = root.path().join(format!("{recipe}-{ranks}"));
                    let many_str = many.to_str().unwrap();
                    train(ranks, &[recipe, "--tiny", "--batch-size", batch, "--out", many_str]);
                    let (gap, worst) = worst_gap(&one, &many);
                    eprintln!(
                        "{recipe}: {ranks} MPI ranks vs one process: relative gap {gap:.2e} ({worst})"
                    );
                    assert!(
                        gap < 1e-5 && gap < sensitivity / 20.0,
                        "{recipe}, {ranks} ranks: parameters differ by {gap:.2e} (a 1% learning \
                         rate change: {sensitivity:.2e})"
                    );
                    // Rank 0 alone wrote the run.
                    assert!(many.join("metrics.json").is_file());
                }
            }
        }

        /// The latest checkpoints of a run and of each of its sub-runs.
        fn trainers(run: &Path) -> Vec<std::path::PathBuf> {
            let mut found = vec![run.to_path_buf()];
            for entry in std::fs::read_dir(run).unwrap().flatten() {
                if entry.path().join("checkpoints").is_dir() {
                    found.push(entry.path());
                }
            }
            found.retain(|dir| {
                std::fs::read_dir(dir.join("checkpoints")).is_ok_and(|mut d| d.next().is_some())
            });
            found
        }

        /// Any recipe on the harness trains data-parallel with no code of its own: on two
        /// ranks every tiny recipe (the Fashion-MNIST ones read files the suite does not
        /// ship; they run `clip-digits`' code) reaches one process's parameters, every
        /// trainer of it. Recipes that share their batch out differ by f32 rounding; those
        /// that do not compute the whole batch on each rank and agree to the bit.
        #[test]
        fn every_recipe_trains_on_two_mpi_ranks_to_one_process_parameters() {
            let root = tempfile::tempdir().unwrap();
            for entry in crate::recipes::RECIPES.iter().filter(|e| !e.name.contains("fashion")) {
                let (one, two) =
                    (root.path().join(entry.name), root.path().join(format!("{}-2", entry.name)));
                train(1, &[entry.name, "--tiny", "--out", one.to_str().unwrap()]);
                train(2, &[entry.name, "--tiny", "--out", two.to_str().unwrap()]);
                let folders = trainers(&one);
                assert_eq!(folders.len(), trainers(&two).len(), "{}", entry.name);
                for dir in folders {
                    let other = two.join(dir.strip_prefix(&one).unwrap());
                    let (gap, worst) = worst_gap(&dir, &other);
                    eprintln!(
                        "{} {}: 2 ranks vs one: {gap:.2e} ({worst})",
                        entry.name,
                        dir.display()
                    );
                    assert!(
                        gap < 1e-5,
                        "{}: {} differs by {gap:.2e} in {worst}",
                        entry.name,
                        dir.display()
                    );
                }
            }
        }

        /// A rank killed mid-run ends the job with an error (no hang), a silent rank ends it
        /// at the timeout with a message naming the collective, and `--resume` from the last
        /// checkpoint continues exactly as the uninterrupted run.
        #[test]
        fn a_dead_or_silent_rank_ends_the_job_and_resume_continues_exactly() {
            let root = tempfile::tempdir().unwrap();
            let run = |name: &str| root.path().join(name);
            let base = ["flow-2d", "--tiny", "--steps", "3000", "--checkpoint-every", "200"];
            let whole = run("whole");
            train(2, &[&base[..], &["--out", whole.to_str().unwrap()]].concat());

            for (signal, name) in [("KILL", "killed"), ("STOP", "stopped")] {
                let dir = run(name);
                let dir_str = dir.to_str().unwrap();
                let trigger = dir.join("checkpoints/step-00000400");
                let started = std::time::Instant::now();
                let out = mpirun(
                    2,
                    &[&base[..], &["--out", dir_str]].concat(),
                    &[
                        (FAULT_AT, trigger.to_str().unwrap()),
                        (FAULT, signal),
                        ("STOKE_DISTRIBUTED_TIMEOUT", "3"),
                    ],
                );
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success(), "{signal}: the job succeeded: {stderr}");
                assert!(started.elapsed().as_secs() < 60, "{signal}: the job hung");
                let expected =
                    if signal == "STOP" { "no answer from the other ranks" } else { "signal 9" };
                assert!(stderr.contains(expected), "{signal}: {stderr}");
                // The run stopped before its end, keeping its checkpoints.
                assert!(!dir.join("metrics.json").exists(), "{signal}: the run finished");
                assert!(dir.join("checkpoints").read_dir().unwrap().count() > 0);

                train(2, &["flow-2d", "--resume", dir_str]);
                let gap = relative_gap(&whole, &dir);
                assert!(gap == 0.0, "{signal}: the resumed run differs by {gap:.2e}");
            }
        }
    }
}
