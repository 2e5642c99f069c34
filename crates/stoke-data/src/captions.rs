//! Captions for labelled images: prompt templates filled with class names, with an exact,
//! seeded fraction of wrong captions.
//!
//! A template is text with placeholders: `{name}` becomes the class name (`"seven"`,
//! `"sneaker"`) and `{digit}` the class index as a numeral (`"7"`). [`Templates`] holds a
//! training set and a disjoint held-out set, so a contrastive model can be evaluated
//! zero-shot on phrasings it never saw. [`caption_classes`] captions any labelled set
//! (Fashion-MNIST, shapes, your own); [`caption_digits`] does it for the 8x8 digits.
//!
//! Wrong captions are what caption filtering (CapFilt, DFN) must find: exactly
//! `round(wrong_fraction * n)` captions, chosen by the seed, name a class drawn uniformly
//! from the other classes, and [`Captions::wrong`] says which.

use crate::DataError;
use crate::digits::{Digits, N_CLASSES, PIXELS};
use crate::splitmix::SplitMix64;

/// The placeholder for the class name.
pub const NAME: &str = "{name}";
/// The placeholder for the class index written as a numeral.
pub const DIGIT: &str = "{digit}";
/// English names of the ten digits, `DIGIT_NAMES[d]` for digit `d`.
pub const DIGIT_NAMES: [&str; N_CLASSES] =
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// Mixes the seed for the stream that picks the wrong captions, so that which captions
/// are wrong does not depend on how many templates there are.
const WRONG_STREAM: u64 = 0x5752_4f4e_4743_4150; // "WRONGCAP"

/// Prompt templates: one set to train on, a disjoint set held out for evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    /// Templates for training captions.
    pub train: Vec<String>,
    /// Templates never used in training, for zero-shot evaluation on new phrasings.
    pub held_out: Vec<String>,
}

impl Templates {
    /// Checked templates from two lists.
    ///
    /// # Errors
    ///
    /// As [`check_templates`] for either list; [`DataError::TemplateOverlap`] if a
    /// template is in both.
    pub fn new(train: &[&str], held_out: &[&str]) -> Result<Self, DataError> {
        let owned = |list: &[&str]| list.iter().map(|&t| t.to_owned()).collect::<Vec<_>>();
        let templates = Self { train: owned(train), held_out: owned(held_out) };
        check_templates(&templates.train)?;
        check_templates(&templates.held_out)?;
        if let Some(shared) = templates.train.iter().find(|t| templates.held_out.contains(t)) {
            return Err(DataError::TemplateOverlap { template: shared.clone() });
        }
        Ok(templates)
    }

    /// Six training and three held-out templates for the digits, mixing `{name}` and
    /// `{digit}`.
    pub fn digits() -> Self {
        Self::new(
            &[
                "a handwritten {digit}",
                "the digit {name}",
                "a picture of a {name}",
                "a photo of the number {name}",
                "a drawing of a {digit}",
                "an image of the digit {digit}",
            ],
            &["a scan of a handwritten {name}", "the number {digit}", "a blurry {name}"],
        )
        .expect("the built-in digit templates are valid and disjoint")
    }
}

/// Checks that `templates` is not empty and that each template has a placeholder and no
/// other braces.
///
/// # Errors
///
/// [`DataError::NoTemplates`] for an empty list; [`DataError::Template`] naming the first
/// template without a placeholder or with an unknown one.
pub fn check_templates(templates: &[String]) -> Result<(), DataError> {
    if templates.is_empty() {
        return Err(DataError::NoTemplates);
    }
    templates.iter().try_for_each(|template| check_template(template))
}

fn check_template(template: &str) -> Result<(), DataError> {
    let error = |reason| DataError::Template { template: template.to_owned(), reason };
    if !template.contains(NAME) && !template.contains(DIGIT) {
        return Err(error("it has no {name} or {digit} placeholder"));
    }
    let rest = template.replace(NAME, "").replace(DIGIT, "");
    if rest.contains(['{', '}']) {
        return Err(error("it has a brace that is not {name} or {digit}"));
    }
    Ok(())
}

/// `template` with `{name}` replaced by `class_names[class]` and `{digit}` by `class`.
///
/// # Errors
///
/// [`DataError::ClassOutOfRange`] if `class` has no name.
pub fn fill(template: &str, class: u8, class_names: &[&str]) -> Result<String, DataError> {
    let name = class_names.get(usize::from(class)).ok_or(DataError::ClassOutOfRange {
        class: usize::from(class),
        n_classes: class_names.len(),
    })?;
    Ok(template.replace(NAME, name).replace(DIGIT, &class.to_string()))
}

/// Every template filled with every class, `prompts[class][template]`: the prompts a
/// zero-shot classifier embeds and averages per class.
///
/// # Shapes
///
/// `[n_classes][templates.len()]`.
///
/// # Errors
///
/// As [`check_templates`]; [`DataError::ClassOutOfRange`] if there are more than 256
/// classes (labels are `u8`).
pub fn class_prompts(
    templates: &[String],
    class_names: &[&str],
) -> Result<Vec<Vec<String>>, DataError> {
    check_templates(templates)?;
    let n_classes = class_names.len();
    let classes = (0..n_classes).map(|class| {
        u8::try_from(class).map_err(|_| DataError::ClassOutOfRange { class, n_classes })
    });
    let prompts = |class: Result<u8, DataError>| {
        let class = class?;
        templates.iter().map(|template| fill(template, class, class_names)).collect()
    };
    classes.map(prompts).collect()
}

/// One caption per labelled item, and which of them name the wrong class.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captions {
    /// The caption of each item.
    pub captions: Vec<String>,
    /// The class each caption names: the item's label, unless the caption is wrong.
    pub caption_labels: Vec<u8>,
    /// Whether each caption names a class other than the item's label.
    pub wrong: Vec<bool>,
}

/// Captions `labels` from `templates`, `round(wrong_fraction * n)` of them wrong.
///
/// Item `i` gets a template drawn uniformly with SplitMix64 seeded by `seed`; a second
/// stream, also from `seed`, picks exactly which items get a wrong caption (a uniform
/// subset of that size) and, for each, a class uniform over the other classes.
///
/// # Errors
///
/// [`DataError::WrongFraction`] unless `0 <= wrong_fraction <= 1`; as
/// [`check_templates`]; [`DataError::ClassOutOfRange`] for a label without a name;
/// [`DataError::TooFewClasses`] if a wrong caption is asked for with one class.
pub fn caption_classes(
    labels: &[u8],
    class_names: &[&str],
    templates: &[String],
    wrong_fraction: f64,
    seed: u64,
) -> Result<Captions, DataError> {
    // Written as a positive test so that NaN is rejected too.
    if !(0.0..=1.0).contains(&wrong_fraction) {
        return Err(DataError::WrongFraction { value: wrong_fraction });
    }
    check_templates(templates)?;
    let n_wrong = (wrong_fraction * labels.len() as f64).round() as usize;
    if n_wrong > 0 && class_names.len() < 2 {
        return Err(DataError::TooFewClasses { n_classes: class_names.len(), minimum: 2 });
    }
    let wrong = wrong_items(labels.len(), n_wrong, seed);
    let caption_labels = named_classes(labels, &wrong, class_names.len(), seed)?;
    let mut template_rng = SplitMix64(seed);
    let captions = caption_labels
        .iter()
        .map(|&class| fill(&templates[template_rng.below(templates.len())], class, class_names))
        .collect::<Result<_, _>>()?;
    Ok(Captions { captions, caption_labels, wrong })
}

/// A uniform subset of `n_wrong` of `n` items (the first `n_wrong` of a seeded shuffle).
fn wrong_items(n: usize, n_wrong: usize, seed: u64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64(seed ^ WRONG_STREAM).shuffle(&mut order);
    let mut wrong = vec![false; n];
    order.iter().take(n_wrong).for_each(|&i| wrong[i] = true);
    wrong
}

/// The class each caption names: the label, or for a wrong item one of the other
/// `n_classes - 1` classes, uniformly.
fn named_classes(
    labels: &[u8],
    wrong: &[bool],
    n_classes: usize,
    seed: u64,
) -> Result<Vec<u8>, DataError> {
    let mut rng = SplitMix64((seed ^ WRONG_STREAM).rotate_left(32));
    let name = |(&label, &is_wrong): (&u8, &bool)| {
        let class = usize::from(label);
        if class >= n_classes {
            return Err(DataError::ClassOutOfRange { class, n_classes });
        }
        if !is_wrong {
            return Ok(label);
        }
        // Adding 1..n_classes - 1 modulo n_classes reaches every other class once.
        let other = (class + 1 + rng.below(n_classes - 1)) % n_classes;
        Ok(other as u8)
    };
    labels.iter().zip(wrong).map(name).collect()
}

/// Digits with one caption each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptionedDigits {
    /// Images, as in [`Digits::images`].
    pub images: Vec<[f32; PIXELS]>,
    /// The class of each image, as in [`Digits::labels`].
    pub labels: Vec<u8>,
    /// The caption of each image.
    pub captions: Vec<String>,
    /// The class each caption names (the label, unless the caption is wrong).
    pub caption_labels: Vec<u8>,
    /// Whether each caption names another class than the image shows.
    pub wrong: Vec<bool>,
}

impl CaptionedDigits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

/// Captions every digit from `templates` with [`DIGIT_NAMES`], `round(wrong_fraction *
/// n)` of them wrong; see [`caption_classes`] for the draw.
///
/// # Errors
///
/// [`DataError::LengthMismatch`] if `digits` has more images than labels or fewer; as
/// [`caption_classes`].
pub fn caption_digits(
    digits: &Digits,
    templates: &[String],
    wrong_fraction: f64,
    seed: u64,
) -> Result<CaptionedDigits, DataError> {
    if digits.images.len() != digits.labels.len() {
        return Err(DataError::LengthMismatch {
            images: digits.images.len(),
            labels: digits.labels.len(),
        });
    }
    let captions = caption_classes(&digits.labels, &DIGIT_NAMES, templates, wrong_fraction, seed)?;
    Ok(CaptionedDigits {
        images: digits.images.clone(),
        labels: digits.labels.clone(),
        captions: captions.captions,
        caption_labels: captions.caption_labels,
        wrong: captions.wrong,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn digits() -> Digits {
        crate::digits::load().unwrap()
    }

    /// The class a digit caption names, read back from its words or numeral.
    fn named_digit(caption: &str) -> Option<u8> {
        let words: Vec<&str> = caption.split(' ').collect();
        (0..10u8).find(|&d| {
            let name = DIGIT_NAMES[usize::from(d)];
            words.iter().any(|w| *w == name || *w == d.to_string())
        })
    }

    #[test]
    fn digit_templates_are_disjoint_and_fill_both_placeholders() {
        let templates = Templates::digits();
        assert!(templates.train.len() >= 6 && templates.held_out.len() >= 3);
        assert!(templates.train.iter().all(|t| !templates.held_out.contains(t)));
        assert_eq!(fill("the digit {name}", 7, &DIGIT_NAMES).unwrap(), "the digit seven");
        assert_eq!(fill("a {digit} ({name})", 3, &DIGIT_NAMES).unwrap(), "a 3 (three)");
        assert!(matches!(
            fill("{name}", 10, &DIGIT_NAMES),
            Err(DataError::ClassOutOfRange { class: 10, n_classes: 10 })
        ));
        let prompts = class_prompts(&templates.held_out, &DIGIT_NAMES).unwrap();
        assert_eq!(prompts.len(), 10);
        assert_eq!(prompts[9], ["a scan of a handwritten nine", "the number 9", "a blurry nine"]);
    }

    #[test]
    fn bad_templates_are_errors_naming_the_template() {
        let one = |t: &str| vec![t.to_owned()];
        assert!(matches!(check_templates(&[]), Err(DataError::NoTemplates)));
        for bad in ["a photo", "a {nmae}", "a {name} }", "{digit} {"] {
            assert!(
                matches!(check_templates(&one(bad)), Err(DataError::Template { ref template, .. }) if template == bad),
                "{bad}"
            );
        }
        assert!(matches!(
            Templates::new(&["a {name}", "the {name}"], &["the {name}"]),
            Err(DataError::TemplateOverlap { ref template }) if template == "the {name}"
        ));
    }

    #[test]
    fn wrong_captions_are_exactly_counted_and_name_another_class() {
        let digits = digits();
        let templates = Templates::digits().train;
        let captioned = caption_digits(&digits, &templates, 0.3, 7).unwrap();
        let n_wrong = captioned.wrong.iter().filter(|&&w| w).count();
        assert_eq!(n_wrong, (0.3f64 * 1797.0).round() as usize);
        for i in 0..captioned.len() {
            let named = named_digit(&captioned.captions[i]).unwrap();
            assert_eq!(named, captioned.caption_labels[i], "{}", captioned.captions[i]);
            assert_eq!(captioned.wrong[i], named != captioned.labels[i]);
        }
        // Each other class is drawn: the wrong names are spread over all nine.
        let mut offsets = [0usize; 10];
        for i in (0..captioned.len()).filter(|&i| captioned.wrong[i]) {
            let offset = (10 + captioned.caption_labels[i] - captioned.labels[i]) % 10;
            offsets[usize::from(offset)] += 1;
        }
        assert_eq!(offsets[0], 0);
        assert!(offsets[1..].iter().all(|&count| count > 30), "{offsets:?}");
        // Every template is used.
        for template in &templates {
            let prefix = template.split('{').next().unwrap();
            assert!(captioned.captions.iter().any(|c| c.starts_with(prefix)), "{template}");
        }
    }

    #[test]
    fn captions_are_seeded() {
        let digits = digits();
        let templates = Templates::digits().train;
        let a = caption_digits(&digits, &templates, 0.1, 3).unwrap();
        assert_eq!(a, caption_digits(&digits, &templates, 0.1, 3).unwrap());
        let b = caption_digits(&digits, &templates, 0.1, 4).unwrap();
        assert_ne!(a.captions, b.captions);
        assert_ne!(a.wrong, b.wrong);
        // Which items are wrong does not depend on the templates.
        let c = caption_digits(&digits, &templates[..2], 0.1, 3).unwrap();
        assert_eq!(a.wrong, c.wrong);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let templates = Templates::digits().train;
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                caption_classes(&[1, 2], &DIGIT_NAMES, &templates, bad, 0),
                Err(DataError::WrongFraction { .. })
            ));
        }
        assert!(matches!(
            caption_classes(&[1, 2], &DIGIT_NAMES, &[], 0.0, 0),
            Err(DataError::NoTemplates)
        ));
        assert!(matches!(
            caption_classes(&[0, 3], &["a", "b"], &templates, 0.0, 0),
            Err(DataError::ClassOutOfRange { class: 3, n_classes: 2 })
        ));
        assert!(matches!(
            caption_classes(&[0, 0], &["only"], &["a {name}".to_owned()], 1.0, 0),
            Err(DataError::TooFewClasses { n_classes: 1, minimum: 2 })
        ));
        let all = caption_classes(&[0, 0], &["yes", "no"], &["{name}".to_owned()], 1.0, 0);
        assert_eq!(all.unwrap().captions, ["no", "no"]);
        let broken = Digits { images: vec![[0.0; PIXELS]], labels: vec![] };
        assert!(matches!(
            caption_digits(&broken, &templates, 0.0, 0),
            Err(DataError::LengthMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn wrong_count_is_exact_for_any_fraction(
            labels in prop::collection::vec(0u8..4, 0..200),
            fraction in 0.0f64..=1.0,
            seed: u64,
        ) {
            let names = ["a", "b", "c", "d"];
            let templates = vec!["{name}".to_owned()];
            let captions = caption_classes(&labels, &names, &templates, fraction, seed).unwrap();
            let n_wrong = captions.wrong.iter().filter(|&&w| w).count();
            prop_assert_eq!(n_wrong, (fraction * labels.len() as f64).round() as usize);
            for i in 0..labels.len() {
                prop_assert_eq!(captions.wrong[i], captions.caption_labels[i] != labels[i]);
                prop_assert_eq!(&captions.captions[i], names[usize::from(captions.caption_labels[i])]);
            }
        }
    }
}
