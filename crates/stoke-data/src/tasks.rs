//! Synthetic tasks in a fixed text format, for language models that must fill in an
//! answer: reversal of learned facts, sorting, and multi-digit addition.
//!
//! Every example is a [`Example`]: a `prompt` and the `answer` that follows it, and the
//! training text is `prompt + answer` ([`Example::text`]). An autoregressive model is
//! scored on the answer given the prompt; a masked diffusion model masks the answer's
//! positions and unmasks them. Every generator is seeded with SplitMix64, so a task
//! depends only on its arguments and seed, never on the `rand` crate's version, and it
//! validates its arguments first.
//!
//! * [`Reversal`]: facts about made-up people, `"Bakore's parent is Dimelu."`, held-out
//!   queries in the direction training stated (`forward`) and in the other (`reverse`),
//!   the test of the *reversal curse* \[BERGLUND23\].
//! * [`Sort`]: `"sort 3 1 2 ="` -> `" 1 2 3"`.
//! * [`Addition`]: `"123+456="` -> `"579"`.
//!
//! Sort and addition draw distinct prompts, so no test prompt is a training prompt. All
//! three write only characters of [`ALPHABET`], so a
//! [`CharTokenizer`](crate::chars::CharTokenizer) built from `ALPHABET` encodes every
//! task, whatever the draw.
//!
//! \[BERGLUND23\]: L. Berglund et al., *The Reversal Curse: LLMs trained on "A is B" fail
//! to learn "B is A"*, ICLR 2024, arXiv:2309.12288.
//!
//! # Example
//!
//! ```
//! use stoke_data::chars::CharTokenizer;
//! use stoke_data::tasks::{ALPHABET, Addition, Sort};
//!
//! let addition = Addition { width: 3 }.generate(1000, 100, 0)?;
//! let example = &addition.test[0];
//! assert_eq!(Addition::solve(&example.prompt)?, example.answer);
//!
//! let sort = Sort { length: 5, max_value: 9 }.generate(1000, 100, 0)?;
//! assert!(sort.train[0].prompt.starts_with("sort "));
//!
//! let tokenizer = CharTokenizer::from_texts(&[ALPHABET])?;
//! assert!(tokenizer.encode(&sort.test[0].text()).is_ok());
//! # Ok::<(), stoke_data::DataError>(())
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::splitmix::SplitMix64;

/// Every character any task writes, in Unicode order: space, `'`, `+`, `.`, the digits,
/// `=`, and the ASCII letters.
pub const ALPHABET: &str = " '+.0123456789=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The most examples one generator call makes (`n_train + n_test`), far beyond any
/// recipe: a guard against a count no allocation could hold.
pub const MAX_EXAMPLES: usize = 1 << 24;

/// A prompt and the answer that completes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Example {
    /// What the model is given.
    pub prompt: String,
    /// What it must produce next.
    pub answer: String,
}

impl Example {
    /// `prompt + answer`: the text a model is trained on.
    pub fn text(&self) -> String {
        format!("{}{}", self.prompt, self.answer)
    }
}

/// Training examples and disjoint test examples of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSet {
    /// What a model is trained on.
    pub train: Vec<Example>,
    /// What it is scored on; no test prompt is a training prompt.
    pub test: Vec<Example>,
}

/// Draws `n_train + n_test` distinct tuples and makes the first `n_test` the test set.
fn task_set(
    task: &'static str,
    (radix, len): (u64, usize),
    (n_train, n_test): (usize, usize),
    seed: u64,
    example: impl Fn(&[u64]) -> Example,
) -> Result<TaskSet, DataError> {
    if n_train == 0 {
        return Err(DataError::ZeroDimension { name: "n_train" });
    }
    if n_test == 0 {
        return Err(DataError::ZeroDimension { name: "n_test" });
    }
    let count = n_train.saturating_add(n_test);
    if count > MAX_EXAMPLES {
        let (minimum, maximum) = (2, MAX_EXAMPLES);
        let name = "n_train + n_test";
        return Err(DataError::ArgumentRange { name, value: count, minimum, maximum });
    }
    let tuples = distinct_tuples(&mut SplitMix64(seed), task, (radix, len), count)?;
    let mut examples = tuples.iter().map(|tuple| example(tuple));
    let test = examples.by_ref().take(n_test).collect();
    Ok(TaskSet { test, train: examples.collect() })
}

/// Number of tuples of `len` values in `0..radix`, saturating at `u128::MAX`.
fn n_tuples(radix: u64, len: usize) -> u128 {
    let power = u32::try_from(len).ok().and_then(|len| u128::from(radix).checked_pow(len));
    power.unwrap_or(u128::MAX)
}

/// `count` distinct tuples of `len` values in `0..radix`, in draw order.
///
/// When the tuples are plentiful (more than twice `count`), each is drawn value by value
/// and a repeat is drawn again, which takes fewer than two draws per tuple on average;
/// otherwise every tuple is listed and the list shuffled, so even the whole space is
/// drawn quickly.
fn distinct_tuples(
    rng: &mut SplitMix64,
    task: &'static str,
    (radix, len): (u64, usize),
    count: usize,
) -> Result<Vec<Vec<u64>>, DataError> {
    let available = n_tuples(radix, len);
    if count as u128 > available {
        return Err(DataError::TaskSpace { task, requested: count, available });
    }
    if available <= 2 * count as u128 {
        // `available <= 2 * count` fits in u64: `count` is a usize.
        let mut indices: Vec<u64> = (0..available as u64).collect();
        rng.shuffle(&mut indices);
        return Ok(indices[..count].iter().map(|&index| tuple_at(index, radix, len)).collect());
    }
    let mut seen = HashSet::new();
    let mut tuples = Vec::new();
    while tuples.len() < count {
        let tuple: Vec<u64> = (0..len).map(|_| rng.below_u64(radix)).collect();
        if seen.insert(tuple.clone()) {
            tuples.push(tuple);
        }
    }
    Ok(tuples)
}

/// The tuple with mixed-radix index `index`: value `j` is digit `j` of `index` in base
/// `radix`, least significant first.
fn tuple_at(mut index: u64, radix: u64, len: usize) -> Vec<u64> {
    (0..len)
        .map(|_| {
            let value = index % radix;
            index /= radix;
            value
        })
        .collect()
}

/// Sorting a list of small numbers: `"sort 3 1 2 ="` -> `" 1 2 3"`.
///
/// A prompt is `sort`, then `length` numbers drawn uniformly from `0..=max_value`
/// (repeats allowed), each after one space, then ` =`; the answer is the same numbers in
/// ascending order, each after one space. All `(max_value + 1)^length` lists are
/// possible prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// Numbers per list.
    pub length: usize,
    /// The largest number.
    pub max_value: u32,
}

impl Sort {
    /// The longest list: prompts of a few thousand characters at most.
    pub const MAX_LENGTH: usize = 1024;

    /// Number of distinct prompts, `(max_value + 1)^length` (saturating at `u128::MAX`).
    pub fn n_prompts(&self) -> u128 {
        n_tuples(u64::from(self.max_value) + 1, self.length)
    }

    /// `n_train` training and `n_test` test examples with distinct prompts, drawn with
    /// SplitMix64 seeded with `seed`.
    ///
    /// # Errors
    ///
    /// [`DataError::ArgumentRange`] unless `1 <= length <=` [`Sort::MAX_LENGTH`] and
    /// `n_train + n_test <=` [`MAX_EXAMPLES`]; [`DataError::ZeroDimension`] for a zero
    /// `n_train` or `n_test`; [`DataError::TaskSpace`] if `n_train + n_test` exceeds
    /// [`Sort::n_prompts`].
    pub fn generate(&self, n_train: usize, n_test: usize, seed: u64) -> Result<TaskSet, DataError> {
        if !(1..=Self::MAX_LENGTH).contains(&self.length) {
            let (minimum, maximum) = (1, Self::MAX_LENGTH);
            return Err(DataError::ArgumentRange {
                name: "length",
                value: self.length,
                minimum,
                maximum,
            });
        }
        let shape = (u64::from(self.max_value) + 1, self.length);
        task_set("sort", shape, (n_train, n_test), seed, |values| Example {
            prompt: format!("sort{} =", spaced(values)),
            answer: spaced(&sorted(values)),
        })
    }

    /// The answer to a sort prompt, for scoring a model's output.
    ///
    /// # Errors
    ///
    /// [`DataError::TaskPrompt`] unless `prompt` is `sort`, one or more numbers (ASCII
    /// digits that fit a `u32`) each after one space, and ` =`.
    pub fn solve(prompt: &str) -> Result<String, DataError> {
        let bad = |reason| DataError::TaskPrompt { prompt: prompt.to_owned(), reason };
        let list = prompt.strip_prefix("sort ").ok_or(bad("does not start with `sort `"))?;
        let list = list.strip_suffix(" =").ok_or(bad("does not end with ` =`"))?;
        let values: Vec<u64> = list
            .split(' ')
            .map(|text| parse_number(text, u64::from(u32::MAX)).ok_or(bad("a number is not a u32")))
            .collect::<Result<_, _>>()?;
        Ok(spaced(&sorted(&values)))
    }
}

/// Multi-digit addition: `"123+456="` -> `"579"`.
///
/// Both operands are drawn uniformly from `0..10^width` and written in decimal without
/// leading zeros (so they have 1 to `width` digits); the answer is their sum in decimal.
/// All `10^(2 width)` ordered pairs are possible prompts (`a+b` and `b+a` are different
/// prompts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addition {
    /// Largest number of digits of an operand.
    pub width: usize,
}

impl Addition {
    /// The widest operands: with 18 digits, operands and sums fit a `u64`.
    pub const MAX_WIDTH: usize = 18;

    /// Number of distinct prompts, `10^(2 width)` (saturating at `u128::MAX`).
    pub fn n_prompts(&self) -> u128 {
        let operands = u32::try_from(self.width).ok().and_then(|width| 10u64.checked_pow(width));
        operands.map_or(u128::MAX, |operands| n_tuples(operands, 2))
    }

    /// `n_train` training and `n_test` test examples with distinct prompts, drawn with
    /// SplitMix64 seeded with `seed`.
    ///
    /// # Errors
    ///
    /// [`DataError::ArgumentRange`] unless `1 <= width <=` [`Addition::MAX_WIDTH`];
    /// [`DataError::ZeroDimension`] for a zero `n_train` or `n_test`;
    /// [`DataError::ArgumentRange`] if `n_train + n_test` exceeds [`MAX_EXAMPLES`];
    /// [`DataError::TaskSpace`] if it exceeds [`Addition::n_prompts`].
    pub fn generate(&self, n_train: usize, n_test: usize, seed: u64) -> Result<TaskSet, DataError> {
        if !(1..=Self::MAX_WIDTH).contains(&self.width) {
            let (minimum, maximum) = (1, Self::MAX_WIDTH);
            return Err(DataError::ArgumentRange {
                name: "width",
                value: self.width,
                minimum,
                maximum,
            });
        }
        // The range check above keeps the power inside u64.
        let operands = 10u64.pow(self.width as u32);
        task_set("addition", (operands, 2), (n_train, n_test), seed, |pair| Example {
            prompt: format!("{}+{}=", pair[0], pair[1]),
            answer: (pair[0] + pair[1]).to_string(),
        })
    }

    /// The answer to an addition prompt, for scoring a model's output.
    ///
    /// # Errors
    ///
    /// [`DataError::TaskPrompt`] unless `prompt` is two numbers of ASCII digits joined by
    /// `+` and followed by `=`, each operand and their sum fitting a `u64`.
    pub fn solve(prompt: &str) -> Result<String, DataError> {
        let bad = |reason| DataError::TaskPrompt { prompt: prompt.to_owned(), reason };
        let sum = prompt.strip_suffix('=').ok_or(bad("does not end with `=`"))?;
        let (a, b) = sum.split_once('+').ok_or(bad("has no `+`"))?;
        let operand = |text| parse_number(text, u64::MAX).ok_or(bad("an operand is not a u64"));
        let total = operand(a)?.checked_add(operand(b)?).ok_or(bad("the sum overflows a u64"))?;
        Ok(total.to_string())
    }
}

/// The value of `text` if it is one or more ASCII digits and at most `maximum` (Rust's
/// own parser would also take a leading `+`).
fn parse_number(text: &str, maximum: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&value| value <= maximum)
}

/// `" 3 1 2"`: each value after one space.
fn spaced(values: &[u64]) -> String {
    values.iter().map(|value| format!(" {value}")).collect()
}

fn sorted(values: &[u64]) -> Vec<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
}

/// Consonants of a name syllable (lowercase; a name's first is capitalised).
const CONSONANTS: [char; 14] =
    ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z'];
/// Vowels of a name syllable.
const VOWELS: [char; 5] = ['a', 'e', 'i', 'o', 'u'];
/// Syllables per name: every name has six letters, so no name is a prefix of another.
const NAME_SYLLABLES: usize = 3;

/// Facts about made-up people, to test whether a model that learned "A's parent is B"
/// can answer "B's child is" \[BERGLUND23\].
///
/// # Protocol
///
/// `2 * n_pairs` distinct names (three consonant-vowel syllables, `"Bakore"`) form
/// `n_pairs` (child, parent) pairs; every person is in exactly one pair, so each query
/// has one answer. For a pair (`C`, `P`) the *forward* fact is prompt `"C's parent is"`,
/// answer `" P."`, and the *reverse* fact is prompt `"P's child is"`, answer `" C."`.
///
/// * The first `n_both` pairs are stated both ways in training: they teach the model the
///   reverse wording and that facts can be reversed.
/// * The other `n_pairs - n_both` pairs are stated forward only.
///
/// [`ReversalTask::forward`] holds the forward facts of the one-way pairs, each exactly a
/// training example (memorisation); [`ReversalTask::reverse`] holds their reverse facts,
/// none of which training contains (reversal). A model that memorised the facts but
/// fails the reverse queries shows the reversal curse.
///
/// The two-way pairs follow \[BERGLUND23\]'s first experiment, which states some facts in
/// both orders and the rest in one, and tests the held-out order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    /// Number of (child, parent) pairs.
    pub n_pairs: usize,
    /// Pairs stated in both directions in training.
    pub n_both: usize,
}

/// The examples of a [`Reversal`] task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalTask {
    /// Forward facts of all pairs and reverse facts of the `n_both` two-way pairs, in a
    /// seeded shuffled order.
    pub train: Vec<Example>,
    /// Forward facts of the one-way pairs: each is a training example.
    pub forward: Vec<Example>,
    /// Reverse facts of the one-way pairs, in the order of `forward`: none is in training.
    pub reverse: Vec<Example>,
}

impl Reversal {
    /// Number of distinct names, `(14 * 5)^3`.
    pub const N_NAMES: u128 =
        ((CONSONANTS.len() * VOWELS.len()) as u128).pow(NAME_SYLLABLES as u32);

    /// The task, drawn with SplitMix64 seeded with `seed` (see [`Reversal`] for the
    /// protocol).
    ///
    /// # Errors
    ///
    /// [`DataError::ZeroDimension`] if `n_pairs` is 0; [`DataError::ReversalPairs`] unless
    /// `1 <= n_both < n_pairs`; [`DataError::TaskSpace`] if `2 * n_pairs` exceeds
    /// [`Reversal::N_NAMES`].
    pub fn generate(&self, seed: u64) -> Result<ReversalTask, DataError> {
        let Reversal { n_pairs, n_both } = *self;
        if n_pairs == 0 {
            return Err(DataError::ZeroDimension { name: "n_pairs" });
        }
        if !(1..n_pairs).contains(&n_both) {
            return Err(DataError::ReversalPairs { n_pairs, n_both });
        }
        let mut rng = SplitMix64(seed);
        let syllables = (CONSONANTS.len() * VOWELS.len()) as u64;
        let shape = (syllables, NAME_SYLLABLES);
        let names = distinct_tuples(&mut rng, "reversal", shape, n_pairs.saturating_mul(2))?;
        let names: Vec<String> = names.iter().map(|syllables| name(syllables)).collect();
        // Pair `i` is (child, parent) = (names[2i], names[2i + 1]).
        let pairs: Vec<(&str, &str)> = names.chunks_exact(2).map(|p| (&*p[0], &*p[1])).collect();
        let (both, one_way) = pairs.split_at(n_both);
        let mut train: Vec<Example> = pairs.iter().map(|&(c, p)| forward_fact(c, p)).collect();
        train.extend(both.iter().map(|&(c, p)| reverse_fact(c, p)));
        rng.shuffle(&mut train);
        Ok(ReversalTask {
            train,
            forward: one_way.iter().map(|&(c, p)| forward_fact(c, p)).collect(),
            reverse: one_way.iter().map(|&(c, p)| reverse_fact(c, p)).collect(),
        })
    }
}

/// `"C's parent is"` -> `" P."`.
fn forward_fact(child: &str, parent: &str) -> Example {
    Example { prompt: format!("{child}'s parent is"), answer: format!(" {parent}.") }
}

/// `"P's child is"` -> `" C."`.
fn reverse_fact(child: &str, parent: &str) -> Example {
    Example { prompt: format!("{parent}'s child is"), answer: format!(" {child}.") }
}

/// The name spelled by syllable indices (`consonant * 5 + vowel`), first letter capital.
fn name(syllables: &[u64]) -> String {
    let mut name = String::with_capacity(2 * syllables.len());
    for &syllable in syllables {
        let syllable = syllable as usize;
        name.push(CONSONANTS[syllable / VOWELS.len()]);
        name.push(VOWELS[syllable % VOWELS.len()]);
    }
    name[..1].to_uppercase() + &name[1..]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chars::CharTokenizer;

    fn texts(examples: &[Example]) -> Vec<String> {
        examples.iter().map(Example::text).collect()
    }

    /// Every character is in the alphabet, and a tokenizer built on the training texts
    /// alone encodes every held-out text.
    fn assert_covered(train: &[Example], held_out: &[Example]) {
        let mut all = train.iter().chain(held_out).map(Example::text);
        assert!(all.all(|text| text.chars().all(|c| ALPHABET.contains(c))));
        let tokenizer = CharTokenizer::from_texts(&texts(train)).unwrap();
        for example in held_out {
            tokenizer.encode(&example.text()).unwrap();
        }
    }

    fn prompts(examples: &[Example]) -> HashSet<&str> {
        examples.iter().map(|example| example.prompt.as_str()).collect()
    }

    #[test]
    fn alphabet_is_sorted_and_builds_a_tokenizer_for_every_task() {
        let chars: Vec<char> = ALPHABET.chars().collect();
        assert!(chars.windows(2).all(|pair| pair[0] < pair[1]));
        let tokenizer = CharTokenizer::from_texts(&[ALPHABET]).unwrap();
        assert_eq!(tokenizer.chars(), chars);
        let reversal = Reversal { n_pairs: 20, n_both: 5 }.generate(3).unwrap();
        let sort = Sort { length: 4, max_value: 20 }.generate(50, 10, 3).unwrap();
        let addition = Addition { width: 4 }.generate(50, 10, 3).unwrap();
        let all = [&reversal.train, &reversal.reverse, &sort.train, &sort.test, &addition.test];
        for example in all.into_iter().flatten() {
            tokenizer.encode(&example.text()).unwrap();
        }
    }

    #[test]
    fn reversal_forward_queries_are_training_facts_and_reverse_ones_are_not() {
        let task = Reversal { n_pairs: 200, n_both: 50 }.generate(7).unwrap();
        assert_eq!((task.train.len(), task.forward.len(), task.reverse.len()), (250, 150, 150));
        let train: HashSet<&Example> = task.train.iter().collect();
        assert_eq!(train.len(), task.train.len(), "training facts are distinct");
        assert!(task.forward.iter().all(|fact| train.contains(fact)));
        let train_prompts = prompts(&task.train);
        assert!(task.reverse.iter().all(|query| !train_prompts.contains(query.prompt.as_str())));
        // Reverse query k swaps the two names of forward query k.
        for (forward, reverse) in task.forward.iter().zip(&task.reverse) {
            let child = forward.prompt.strip_suffix("'s parent is").unwrap();
            let parent = forward.answer.strip_prefix(' ').unwrap().strip_suffix('.').unwrap();
            assert_eq!(reverse.prompt, format!("{parent}'s child is"));
            assert_eq!(reverse.answer, format!(" {child}."));
            assert!(child.len() == 6 && child.starts_with(|c: char| c.is_ascii_uppercase()));
        }
        // Training shows the reverse wording, for the two-way pairs only.
        let reverse_facts = task.train.iter().filter(|e| e.prompt.ends_with("'s child is"));
        assert_eq!(reverse_facts.count(), 50);
        assert_covered(&task.train, &task.reverse);
    }

    #[test]
    fn reversal_names_each_person_once() {
        let task = Reversal { n_pairs: 1000, n_both: 1 }.generate(0).unwrap();
        let mut names: Vec<&str> = task
            .train
            .iter()
            .flat_map(|e| [e.prompt.split('\'').next().unwrap(), e.answer.trim_matches([' ', '.'])])
            .collect();
        names.sort_unstable();
        // 1000 forward facts name 2000 people; the one reverse fact names two of them again.
        let total = names.len();
        names.dedup();
        assert_eq!((total, names.len()), (2002, 2000));
    }

    #[test]
    fn sort_answers_are_the_sorted_prompts_and_test_prompts_are_unseen() {
        let task = Sort { length: 6, max_value: 12 }.generate(2000, 200, 1).unwrap();
        assert_eq!((task.train.len(), task.test.len()), (2000, 200));
        for example in task.train.iter().chain(&task.test) {
            let list = example.prompt.strip_prefix("sort ").unwrap().strip_suffix(" =").unwrap();
            let mut values: Vec<u32> = list.split(' ').map(|v| v.parse().unwrap()).collect();
            assert!(values.len() == 6 && values.iter().all(|&v| v <= 12));
            values.sort_unstable();
            let answer: Vec<u32> =
                example.answer.split_whitespace().map(|v| v.parse().unwrap()).collect();
            assert_eq!(answer, values);
            assert!(example.answer.starts_with(' '));
            assert_eq!(Sort::solve(&example.prompt).unwrap(), example.answer);
        }
        assert!(prompts(&task.train).is_disjoint(&prompts(&task.test)));
        assert_eq!(prompts(&task.train).len(), 2000);
        assert_covered(&task.train, &task.test);
    }

    #[test]
    fn addition_answers_are_the_sums_and_test_prompts_are_unseen() {
        let task = Addition { width: 3 }.generate(5000, 500, 2).unwrap();
        for example in task.train.iter().chain(&task.test) {
            let (a, b) = example.prompt.strip_suffix('=').unwrap().split_once('+').unwrap();
            assert!(a.len() <= 3 && b.len() <= 3 && (a == "0" || !a.starts_with('0')));
            let sum: u32 = a.parse::<u32>().unwrap() + b.parse::<u32>().unwrap();
            assert_eq!(example.answer, sum.to_string());
            assert_eq!(Addition::solve(&example.prompt).unwrap(), example.answer);
        }
        assert!(prompts(&task.train).is_disjoint(&prompts(&task.test)));
        assert_eq!(prompts(&task.train).len(), 5000);
        assert_covered(&task.train, &task.test);
        // The widest operands still add exactly.
        let wide = Addition { width: Addition::MAX_WIDTH }.generate(10, 10, 0).unwrap();
        for example in &wide.test {
            assert_eq!(Addition::solve(&example.prompt).unwrap(), example.answer);
        }
    }

    #[test]
    fn tasks_are_deterministic_per_seed_and_differ_across_seeds() {
        let reversal = Reversal { n_pairs: 30, n_both: 10 };
        assert_eq!(reversal.generate(5).unwrap(), reversal.generate(5).unwrap());
        assert_ne!(reversal.generate(5).unwrap().forward, reversal.generate(6).unwrap().forward);
        let sort = Sort { length: 5, max_value: 9 };
        assert_eq!(sort.generate(100, 10, 5).unwrap(), sort.generate(100, 10, 5).unwrap());
        assert_ne!(
            sort.generate(100, 10, 5).unwrap().test,
            sort.generate(100, 10, 6).unwrap().test
        );
        let addition = Addition { width: 2 };
        assert_eq!(addition.generate(100, 10, 5).unwrap(), addition.generate(100, 10, 5).unwrap());
        assert_ne!(addition.generate(100, 10, 5).unwrap(), addition.generate(100, 10, 6).unwrap());
    }

    /// Pins the first examples of seed 0, so a change to the generators shows.
    #[test]
    fn seed_zero_gives_pinned_examples() {
        let sort = Sort { length: 3, max_value: 9 }.generate(1, 1, 0).unwrap();
        let addition = Addition { width: 3 }.generate(1, 1, 0).unwrap();
        let reversal = Reversal { n_pairs: 2, n_both: 1 }.generate(0).unwrap();
        let pinned = [&sort.test[0], &addition.test[0], &reversal.forward[0]];
        let got: Vec<String> =
            pinned.iter().map(|e| format!("{}|{}", e.prompt, e.answer)).collect();
        assert_eq!(got, ["sort 8 4 0 =| 0 4 8", "883+431=|1314", "Fisugi's parent is| Zeliso."]);
    }

    #[test]
    fn the_whole_space_can_be_drawn_when_it_is_small() {
        // 10 * 10 = 100 prompts: every one of them, each once.
        let task = Addition { width: 1 }.generate(90, 10, 4).unwrap();
        let mut all: Vec<&str> =
            task.train.iter().chain(&task.test).map(|e| e.prompt.as_str()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 100);
        assert!(matches!(
            Addition { width: 1 }.generate(91, 10, 4),
            Err(DataError::TaskSpace { task: "addition", requested: 101, available: 100 })
        ));
        let sort = Sort { length: 2, max_value: 2 };
        assert_eq!(sort.n_prompts(), 9);
        assert!(sort.generate(8, 1, 0).is_ok());
        assert!(matches!(sort.generate(9, 1, 0), Err(DataError::TaskSpace { available: 9, .. })));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(matches!(
            Sort { length: 0, max_value: 9 }.generate(1, 1, 0),
            Err(DataError::ArgumentRange { name: "length", value: 0, .. })
        ));
        assert!(matches!(
            Sort { length: 3, max_value: 9 }.generate(0, 1, 0),
            Err(DataError::ZeroDimension { name: "n_train" })
        ));
        assert!(matches!(
            Sort { length: 3, max_value: 9 }.generate(1, 0, 0),
            Err(DataError::ZeroDimension { name: "n_test" })
        ));
        assert!(matches!(
            Sort { length: 3, max_value: 0 }.generate(1, 1, 0),
            Err(DataError::TaskSpace { available: 1, .. })
        ));
        let long = Sort { length: Sort::MAX_LENGTH + 1, max_value: 9 }.generate(1, 1, 0);
        assert!(matches!(long, Err(DataError::ArgumentRange { name: "length", .. })));
        let many = Addition { width: 9 }.generate(MAX_EXAMPLES, 1, 0);
        assert!(matches!(many, Err(DataError::ArgumentRange { name: "n_train + n_test", .. })));
        for width in [0, 19, usize::MAX] {
            assert!(matches!(
                Addition { width }.generate(1, 1, 0),
                Err(DataError::ArgumentRange { name: "width", .. })
            ));
        }
        assert_eq!(Addition { width: 19 }.n_prompts(), 10u128.pow(38));
        assert_eq!(Addition { width: 20 }.n_prompts(), u128::MAX);
        assert!(matches!(
            Reversal { n_pairs: 0, n_both: 0 }.generate(0),
            Err(DataError::ZeroDimension { name: "n_pairs" })
        ));
        for (n_pairs, n_both) in [(5, 0), (5, 5), (5, 6)] {
            assert!(matches!(
                Reversal { n_pairs, n_both }.generate(0),
                Err(DataError::ReversalPairs { .. })
            ));
        }
        let too_many = Reversal { n_pairs: 171_501, n_both: 1 }.generate(0);
        assert!(matches!(
            too_many,
            Err(DataError::TaskSpace { task: "reversal", requested: 343_002, available: 343_000 })
        ));
    }

    #[test]
    fn solvers_reject_malformed_prompts() {
        for prompt in [
            "",
            "sort =",
            "sort 1 2",
            "sort  1 =",
            "sort +1 =",
            "sort 1 x =",
            "sort 4294967296 =",
            "sort 1 2 = ",
        ] {
            assert!(matches!(Sort::solve(prompt), Err(DataError::TaskPrompt { .. })), "{prompt:?}");
        }
        assert_eq!(Sort::solve("sort 10 9 =").unwrap(), " 9 10");
        for prompt in
            ["", "1+2", "12=", "+1=", "1++2=", "1+-2=", "1 +2=", "18446744073709551615+1="]
        {
            assert!(
                matches!(Addition::solve(prompt), Err(DataError::TaskPrompt { .. })),
                "{prompt:?}"
            );
        }
        assert_eq!(Addition::solve("007+3=").unwrap(), "10");
    }

    proptest! {
        #[test]
        fn generated_sets_are_disjoint_and_the_requested_size(
            length in 1usize..4, max_value in 0u32..5, n_train in 1usize..40, n_test in 1usize..10, seed: u64,
        ) {
            let sort = Sort { length, max_value };
            match sort.generate(n_train, n_test, seed) {
                Ok(task) => {
                    prop_assert_eq!((task.train.len(), task.test.len()), (n_train, n_test));
                    let mut all = prompts(&task.train);
                    prop_assert!(all.is_disjoint(&prompts(&task.test)));
                    all.extend(prompts(&task.test));
                    prop_assert_eq!(all.len(), n_train + n_test);
                }
                Err(_) => prop_assert!((n_train + n_test) as u128 > sort.n_prompts()),
            }
        }
    }
}
