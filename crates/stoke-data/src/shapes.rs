//! Procedural scenes with compositional captions: one coloured shape on black, or two side
//! by side, for testing whether a contrastive model binds attributes to objects.
//!
//! A [`Scene`] is a [`Colour`], a [`Shape`], a [`Position`] and a [`Size`]; its caption
//! names all of them (`"a small red square at the top left"`) and [`parse_caption`] reads
//! one back. A fixed rule ([`is_held_out`]) holds out some (colour, shape) combinations:
//! every colour and every shape is seen in training, but not every pairing, so the
//! held-out [`Split`] measures compositional generalisation. A [`PairScene`] puts two
//! objects of different colours and shapes side by side; its
//! [`swapped_caption`](PairScene::swapped_caption) exchanges their colours (`"a blue
//! square left of a red circle"`): a model that only bags words scores both captions the
//! same.
//!
//! Images are `f32` in `[0, 1]`, channel-first (`[3, side, side]`, R then G then B), the
//! way a vision tower takes them. Every draw is seeded with SplitMix64, so a batch is a pure
//! function of `(seed, n, split)`.

use crate::DataError;
use crate::splitmix::SplitMix64;

/// Default side of an image in pixels.
pub const DEFAULT_SIDE: usize = 16;
/// The smallest side: a small shape then has a radius of 3 pixels, the least at which all
/// six shapes have distinct pixel masks.
pub const MIN_SIDE: usize = 16;
/// The largest side, a guard against sizes no allocation could hold.
pub const MAX_SIDE: usize = 1024;
/// Colour channels per image.
pub const CHANNELS: usize = 3;
/// The largest noise amplitude: beyond it the background is no longer dark.
pub const MAX_NOISE: f32 = 0.5;

/// Mixes the seed for the pixel-noise stream, so that noise does not depend on which
/// scenes were drawn with the same seed.
const NOISE_STREAM: u64 = 0x4e4f_4953_4553_4545; // "NOISESEE"

/// Defines a closed set with `ALL`, `index` and `name`.
macro_rules! attribute {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order (`ALL[v.index()] == v`).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Position in [`Self::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }

            /// The words a caption uses for it.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value whose [`name`](Self::name) is `text`, if any.
            pub fn from_name(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.name() == text)
            }
        }
    };
}

attribute! {
    /// The colour of a shape.
    Colour {
        /// `[1, 0, 0]`.
        Red => "red",
        /// `[0, 1, 0]`.
        Green => "green",
        /// `[0, 0, 1]`.
        Blue => "blue",
        /// `[1, 1, 0]`.
        Yellow => "yellow",
        /// `[1, 0, 1]`.
        Magenta => "magenta",
        /// `[0, 1, 1]`.
        Cyan => "cyan",
        /// `[1, 1, 1]`.
        White => "white",
    }
}

attribute! {
    /// The outline of a shape.
    Shape {
        /// An axis-aligned square.
        Square => "square",
        /// A filled disc.
        Circle => "circle",
        /// An upward-pointing triangle.
        Triangle => "triangle",
        /// A plus sign.
        Cross => "cross",
        /// A square turned 45 degrees.
        Diamond => "diamond",
        /// An annulus.
        Ring => "ring",
    }
}

attribute! {
    /// Where a single shape sits: the centre of a quadrant, or of the image.
    Position {
        /// Centre of the top-left quadrant.
        TopLeft => "top left",
        /// Centre of the top-right quadrant.
        TopRight => "top right",
        /// Centre of the bottom-left quadrant.
        BottomLeft => "bottom left",
        /// Centre of the bottom-right quadrant.
        BottomRight => "bottom right",
        /// Centre of the image.
        Center => "center",
    }
}

attribute! {
    /// How large a single shape is: a radius of `3 side / 16` or `side / 4` (a quadrant).
    Size {
        /// Radius `3 side / 16`.
        Small => "small",
        /// Radius `side / 4`: the shape fills its quadrant.
        Large => "large",
    }
}

impl Colour {
    /// Red, green and blue in `[0, 1]`.
    pub fn rgb(self) -> [f32; CHANNELS] {
        match self {
            Colour::Red => [1.0, 0.0, 0.0],
            Colour::Green => [0.0, 1.0, 0.0],
            Colour::Blue => [0.0, 0.0, 1.0],
            Colour::Yellow => [1.0, 1.0, 0.0],
            Colour::Magenta => [1.0, 0.0, 1.0],
            Colour::Cyan => [0.0, 1.0, 1.0],
            Colour::White => [1.0, 1.0, 1.0],
        }
    }
}

impl Shape {
    /// Whether the point `(u, v)`, in units of the shape's radius from its centre (`v`
    /// grows downwards), is inside the shape. Every shape fits in `[-1, 1]^2`.
    fn contains(self, u: f32, v: f32) -> bool {
        let (a, b) = (u.abs(), v.abs());
        let radius = u.hypot(v);
        match self {
            Shape::Square => a.max(b) <= 0.8,
            Shape::Circle => radius <= 1.0,
            Shape::Diamond => a + b <= 1.0,
            Shape::Cross => a.min(b) <= 0.34 && a.max(b) <= 1.0,
            // Apex at v = -0.9, base at v = 0.9, as wide as it is tall.
            Shape::Triangle => (-0.9..=0.9).contains(&v) && a <= (v + 0.9) / 1.8,
            Shape::Ring => (0.5..=1.0).contains(&radius),
        }
    }
}

impl Position {
    /// The centre in pixels, `(x, y)` from the top-left corner.
    fn centre(self, side: usize) -> (f32, f32) {
        let (quarter, half, three_quarters) =
            (side as f32 / 4.0, side as f32 / 2.0, 0.75 * side as f32);
        match self {
            Position::TopLeft => (quarter, quarter),
            Position::TopRight => (three_quarters, quarter),
            Position::BottomLeft => (quarter, three_quarters),
            Position::BottomRight => (three_quarters, three_quarters),
            Position::Center => (half, half),
        }
    }
}

impl Size {
    /// The radius in pixels.
    fn radius(self, side: usize) -> f32 {
        match self {
            Size::Small => 3.0 * side as f32 / 16.0,
            Size::Large => side as f32 / 4.0,
        }
    }
}

/// Whether the (colour, shape) combination is held out of training: the rule
/// `(colour.index() + shape.index()) % 6 == 0`, a diagonal of the colour-by-shape table
/// that leaves every colour and every shape in both splits (7 of the 42 combinations).
pub fn is_held_out(colour: Colour, shape: Shape) -> bool {
    (colour.index() + shape.index()).is_multiple_of(Shape::ALL.len())
}

/// Which combinations a draw may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Only combinations that are not held out.
    Train,
    /// Only held-out combinations.
    HeldOut,
}

/// The (colour, shape) combinations of `split`, colour-major.
pub fn combinations(split: Split) -> Vec<(Colour, Shape)> {
    let all = Colour::ALL.iter().flat_map(|&c| Shape::ALL.iter().map(move |&s| (c, s)));
    all.filter(|&(c, s)| is_held_out(c, s) == (split == Split::HeldOut)).collect()
}

/// One coloured shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Object {
    /// Its colour.
    pub colour: Colour,
    /// Its outline.
    pub shape: Shape,
}

impl Object {
    /// `"a red square"`.
    pub fn caption(&self) -> String {
        format!("a {} {}", self.colour.name(), self.shape.name())
    }
}

/// One shape on a black background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scene {
    /// The shape's colour.
    pub colour: Colour,
    /// Its outline.
    pub shape: Shape,
    /// Where it sits.
    pub position: Position,
    /// How large it is.
    pub size: Size,
}

impl Scene {
    /// `"a red square at the top left"`.
    pub fn caption(&self) -> String {
        format!("a {} {} at the {}", self.colour.name(), self.shape.name(), self.position.name())
    }

    /// `"a small red square at the top left"`.
    pub fn caption_with_size(&self) -> String {
        let (colour, shape) = (self.colour.name(), self.shape.name());
        format!("a {} {colour} {shape} at the {}", self.size.name(), self.position.name())
    }

    /// Whether its (colour, shape) combination is held out ([`is_held_out`]).
    pub fn is_held_out(&self) -> bool {
        is_held_out(self.colour, self.shape)
    }

    /// Every scene (7 colours x 6 shapes x 5 positions x 2 sizes = 420).
    pub fn all() -> Vec<Scene> {
        let mut scenes = Vec::new();
        for &colour in Colour::ALL {
            for &shape in Shape::ALL {
                for &position in Position::ALL {
                    for &size in Size::ALL {
                        scenes.push(Scene { colour, shape, position, size });
                    }
                }
            }
        }
        scenes
    }
}

/// Two objects of different colours and different shapes, side by side (large, centred
/// in the left and right halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairScene {
    /// The object on the left.
    pub left: Object,
    /// The object on the right.
    pub right: Object,
}

impl PairScene {
    /// `"a red square left of a blue circle"`.
    pub fn caption(&self) -> String {
        format!("{} left of {}", self.left.caption(), self.right.caption())
    }

    /// The scene with the two colours exchanged: same shapes, same places.
    pub fn swapped(&self) -> PairScene {
        PairScene {
            left: Object { colour: self.right.colour, shape: self.left.shape },
            right: Object { colour: self.left.colour, shape: self.right.shape },
        }
    }

    /// The caption of [`PairScene::swapped`], `"a blue square left of a red circle"`: the
    /// same words as the caption, bound the wrong way, for binding evaluation.
    pub fn swapped_caption(&self) -> String {
        self.swapped().caption()
    }
}

/// What a single-shape caption says; the size is optional, as in [`Scene::caption`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SceneCaption {
    /// The colour named.
    pub colour: Colour,
    /// The shape named.
    pub shape: Shape,
    /// The position named.
    pub position: Position,
    /// The size named, if any.
    pub size: Option<Size>,
}

impl SceneCaption {
    /// Whether the caption is true of `scene` (a caption without a size fits both sizes).
    pub fn describes(&self, scene: &Scene) -> bool {
        let size_fits = self.size.is_none_or(|size| size == scene.size);
        (self.colour, self.shape, self.position) == (scene.colour, scene.shape, scene.position)
            && size_fits
    }
}

/// Reads a caption of the form of [`Scene::caption`] or [`Scene::caption_with_size`]
/// (for scoring a captioner's output).
///
/// # Errors
///
/// [`DataError::Caption`], saying which part is missing or unknown.
pub fn parse_caption(caption: &str) -> Result<SceneCaption, DataError> {
    let error = |reason| DataError::Caption { caption: caption.to_owned(), reason };
    let (object, place) = caption.split_once(" at the ").ok_or(error("no ` at the `"))?;
    let position = Position::from_name(place).ok_or(error("unknown position"))?;
    let words: Vec<&str> = object.split(' ').collect();
    let (size, colour, shape) = match words[..] {
        ["a", colour, shape] => (None, colour, shape),
        ["a", size, colour, shape] => {
            (Some(Size::from_name(size).ok_or(error("unknown size"))?), colour, shape)
        }
        _ => return Err(error("expected `a [size] colour shape`")),
    };
    let colour = Colour::from_name(colour).ok_or(error("unknown colour"))?;
    let shape = Shape::from_name(shape).ok_or(error("unknown shape"))?;
    Ok(SceneCaption { colour, shape, position, size })
}

/// Reads a caption of the form of [`PairScene::caption`].
///
/// # Errors
///
/// [`DataError::Caption`], saying which part is missing or unknown.
pub fn parse_pair_caption(caption: &str) -> Result<PairScene, DataError> {
    let error = |reason| DataError::Caption { caption: caption.to_owned(), reason };
    let (left, right) = caption.split_once(" left of ").ok_or(error("no ` left of `"))?;
    let object = |text: &str| match text.split(' ').collect::<Vec<_>>()[..] {
        ["a", colour, shape] => Ok(Object {
            colour: Colour::from_name(colour).ok_or(error("unknown colour"))?,
            shape: Shape::from_name(shape).ok_or(error("unknown shape"))?,
        }),
        _ => Err(error("expected `a colour shape`")),
    };
    Ok(PairScene { left: object(left)?, right: object(right)? })
}

/// `n` scenes drawn uniformly from the combinations of `split`, positions and sizes.
pub fn sample(n: usize, seed: u64, split: Split) -> Vec<Scene> {
    let combos = combinations(split);
    let mut rng = SplitMix64(seed);
    let mut draw = || {
        let (colour, shape) = combos[rng.below(combos.len())];
        let position = Position::ALL[rng.below(Position::ALL.len())];
        let size = Size::ALL[rng.below(Size::ALL.len())];
        Scene { colour, shape, position, size }
    };
    (0..n).map(|_| draw()).collect()
}

/// `n` pairs whose two objects both come from `split` and differ in colour and in shape,
/// drawn uniformly among such pairs.
pub fn sample_pairs(n: usize, seed: u64, split: Split) -> Vec<PairScene> {
    let combos = combinations(split);
    let object = |(colour, shape)| Object { colour, shape };
    let pairs: Vec<PairScene> = combos
        .iter()
        .flat_map(|&a| combos.iter().map(move |&b| (a, b)))
        .filter(|&((ca, sa), (cb, sb))| ca != cb && sa != sb)
        .map(|(a, b)| PairScene { left: object(a), right: object(b) })
        .collect();
    let mut rng = SplitMix64(seed);
    (0..n).map(|_| pairs[rng.below(pairs.len())]).collect()
}

/// How scenes are drawn: the image side and the pixel noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapesConfig {
    side: usize,
    noise: f32,
}

impl Default for ShapesConfig {
    /// 16x16 pixels, no noise.
    fn default() -> Self {
        Self { side: DEFAULT_SIDE, noise: 0.0 }
    }
}

impl ShapesConfig {
    /// Images `side` pixels square, with uniform noise in `[-noise, noise]` added to every
    /// pixel by the batch draws (then clamped to `[0, 1]`).
    ///
    /// # Errors
    ///
    /// [`DataError::ShapesSide`] unless `MIN_SIDE <= side <= MAX_SIDE`;
    /// [`DataError::Noise`] unless `0 <= noise <= MAX_NOISE`.
    pub fn new(side: usize, noise: f32) -> Result<Self, DataError> {
        if !(MIN_SIDE..=MAX_SIDE).contains(&side) {
            return Err(DataError::ShapesSide { side, minimum: MIN_SIDE, maximum: MAX_SIDE });
        }
        // Written as a positive test so that NaN is rejected too.
        if !(0.0..=MAX_NOISE).contains(&noise) {
            return Err(DataError::Noise { value: noise, maximum: MAX_NOISE });
        }
        Ok(Self { side, noise })
    }

    /// Side of an image in pixels.
    pub fn side(&self) -> usize {
        self.side
    }

    /// The noise amplitude.
    pub fn noise(&self) -> f32 {
        self.noise
    }

    /// Values per image, `3 * side * side`.
    pub fn image_len(&self) -> usize {
        CHANNELS * self.side * self.side
    }

    /// The scene, without noise: the shape's pixels have its colour, the rest are black.
    /// A pixel belongs to the shape when its centre does.
    ///
    /// # Shapes
    ///
    /// `[3, side, side]`, channel-first, row 0 at the top.
    pub fn draw(&self, scene: &Scene) -> Vec<f32> {
        let object = Object { colour: scene.colour, shape: scene.shape };
        let mut image = vec![0.0; self.image_len()];
        let (x, y) = scene.position.centre(self.side);
        self.paint(&mut image, object, (x, y), scene.size.radius(self.side));
        image
    }

    /// The pair, without noise: each object large, centred in its half.
    ///
    /// # Shapes
    ///
    /// `[3, side, side]`, channel-first.
    pub fn draw_pair(&self, pair: &PairScene) -> Vec<f32> {
        let mut image = vec![0.0; self.image_len()];
        let (radius, middle) = (Size::Large.radius(self.side), self.side as f32 / 2.0);
        self.paint(&mut image, pair.left, (self.side as f32 / 4.0, middle), radius);
        self.paint(&mut image, pair.right, (0.75 * self.side as f32, middle), radius);
        image
    }

    /// Every scene drawn, with this config's noise seeded by `seed`.
    ///
    /// # Shapes
    ///
    /// `[scenes.len(), 3, side, side]`.
    pub fn draw_batch(&self, scenes: &[Scene], seed: u64) -> Vec<f32> {
        let mut images: Vec<f32> = scenes.iter().flat_map(|scene| self.draw(scene)).collect();
        self.add_noise(&mut images, seed);
        images
    }

    /// Every pair drawn, with this config's noise seeded by `seed`.
    ///
    /// # Shapes
    ///
    /// `[pairs.len(), 3, side, side]`.
    pub fn draw_pair_batch(&self, pairs: &[PairScene], seed: u64) -> Vec<f32> {
        let mut images: Vec<f32> = pairs.iter().flat_map(|pair| self.draw_pair(pair)).collect();
        self.add_noise(&mut images, seed);
        images
    }

    /// Sets the pixels of `object` (centre in pixels, radius in pixels) to its colour.
    fn paint(&self, image: &mut [f32], object: Object, (cx, cy): (f32, f32), radius: f32) {
        let plane = self.side * self.side;
        for row in 0..self.side {
            for col in 0..self.side {
                let u = (col as f32 + 0.5 - cx) / radius;
                let v = (row as f32 + 0.5 - cy) / radius;
                if object.shape.contains(u, v) {
                    let pixel = row * self.side + col;
                    for (channel, value) in object.colour.rgb().into_iter().enumerate() {
                        image[channel * plane + pixel] = value;
                    }
                }
            }
        }
    }

    fn add_noise(&self, images: &mut [f32], seed: u64) {
        if self.noise == 0.0 {
            return;
        }
        let mut rng = SplitMix64(seed ^ NOISE_STREAM);
        for value in images {
            // 24 random bits give a uniform f32 in [0, 1) exactly.
            let unit = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            *value = (*value + self.noise * (2.0 * unit - 1.0)).clamp(0.0, 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    /// The pixels whose three channels are `rgb`, as `row * side + col`.
    fn pixels_of(image: &[f32], side: usize, rgb: [f32; 3]) -> Vec<usize> {
        let plane = side * side;
        (0..plane).filter(|&p| (0..3).all(|c| image[c * plane + p] == rgb[c])).collect()
    }

    fn bits(image: &[f32]) -> Vec<u32> {
        image.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn the_sets_are_as_large_as_promised() {
        assert_eq!((Colour::ALL.len(), Shape::ALL.len(), Position::ALL.len()), (7, 6, 5));
        assert_eq!(Scene::all().len(), 420);
        assert_eq!(combinations(Split::HeldOut).len(), 7);
        assert_eq!(combinations(Split::Train).len() + 7, 42);
        for &colour in Colour::ALL {
            assert_eq!(Colour::ALL[colour.index()], colour);
            assert_eq!(Colour::from_name(colour.name()), Some(colour));
        }
    }

    #[test]
    fn every_colour_and_shape_is_in_both_splits() {
        for split in [Split::Train, Split::HeldOut] {
            let combos = combinations(split);
            assert!(Colour::ALL.iter().all(|c| combos.iter().any(|(k, _)| k == c)), "{split:?}");
            assert!(Shape::ALL.iter().all(|s| combos.iter().any(|(_, k)| k == s)), "{split:?}");
        }
    }

    #[test]
    fn the_shape_has_its_colour_and_the_rest_is_black() {
        let config = ShapesConfig::default();
        for scene in Scene::all() {
            let image = config.draw(&scene);
            assert_eq!(image.len(), 3 * 16 * 16);
            assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
            let coloured = pixels_of(&image, 16, scene.colour.rgb());
            let black = pixels_of(&image, 16, [0.0; 3]);
            assert_eq!(coloured.len() + black.len(), 256, "{scene:?}: a pixel of another colour");
            assert!(coloured.len() >= 10, "{scene:?}: {} pixels", coloured.len());
            // The shape lies in its quadrant (or, at the center, in the middle half).
            let (cx, cy) = scene.position.centre(16);
            for p in coloured {
                let (x, y) = ((p % 16) as f32 + 0.5, (p / 16) as f32 + 0.5);
                assert!((x - cx).abs() <= 4.0 && (y - cy).abs() <= 4.0, "{scene:?}");
            }
        }
    }

    #[test]
    fn different_scenes_give_different_images() {
        for side in [16, 17, 23, 32] {
            let config = ShapesConfig::new(side, 0.0).unwrap();
            let images: HashSet<Vec<u32>> =
                Scene::all().iter().map(|scene| bits(&config.draw(scene))).collect();
            assert_eq!(images.len(), 420, "side {side}");
        }
        let config = ShapesConfig::default();
        let pairs = sample_pairs(200, 0, Split::Train);
        let distinct_pairs: HashSet<_> = pairs.iter().collect();
        let images: HashSet<Vec<u32>> = pairs.iter().map(|p| bits(&config.draw_pair(p))).collect();
        assert_eq!(images.len(), distinct_pairs.len());
    }

    #[test]
    fn held_out_combinations_never_appear_in_training_draws() {
        let train = sample(5000, 1, Split::Train);
        assert!(train.iter().all(|scene| !scene.is_held_out()));
        let seen: HashSet<(Colour, Shape)> = train.iter().map(|s| (s.colour, s.shape)).collect();
        assert_eq!(seen.len(), 35, "every training combination is drawn");
        let held_out = sample(500, 1, Split::HeldOut);
        assert!(held_out.iter().all(Scene::is_held_out));
        for pair in sample_pairs(2000, 2, Split::Train) {
            for object in [pair.left, pair.right] {
                assert!(!is_held_out(object.colour, object.shape));
            }
        }
        for pair in sample_pairs(500, 2, Split::HeldOut) {
            assert!(is_held_out(pair.left.colour, pair.left.shape));
            assert!(is_held_out(pair.right.colour, pair.right.shape));
        }
    }

    #[test]
    fn captions_parse_back_to_the_scene() {
        let scene = Scene {
            colour: Colour::Red,
            shape: Shape::Square,
            position: Position::TopLeft,
            size: Size::Small,
        };
        assert_eq!(scene.caption(), "a red square at the top left");
        assert_eq!(scene.caption_with_size(), "a small red square at the top left");
        for scene in Scene::all() {
            let full = parse_caption(&scene.caption_with_size()).unwrap();
            assert_eq!(full.size, Some(scene.size));
            assert!(full.describes(&scene));
            let short = parse_caption(&scene.caption()).unwrap();
            assert_eq!(short.size, None);
            assert!(short.describes(&scene));
        }
        for bad in [
            "a red square",
            "a red blob at the top left",
            "a tiny red square at the top left",
            "red square at the top left",
            "a red square at the middle",
        ] {
            assert!(matches!(parse_caption(bad), Err(DataError::Caption { .. })), "{bad}");
        }
    }

    #[test]
    fn pair_captions_swap_the_colours_and_parse_back() {
        let pair = PairScene {
            left: Object { colour: Colour::Red, shape: Shape::Square },
            right: Object { colour: Colour::Blue, shape: Shape::Circle },
        };
        assert_eq!(pair.caption(), "a red square left of a blue circle");
        assert_eq!(pair.swapped_caption(), "a blue square left of a red circle");
        for pair in sample_pairs(300, 5, Split::Train) {
            assert_eq!(parse_pair_caption(&pair.caption()).unwrap(), pair);
            assert_eq!(parse_pair_caption(&pair.swapped_caption()).unwrap(), pair.swapped());
            assert_ne!(pair.caption(), pair.swapped_caption());
            let (caption, swapped_caption) = (pair.caption(), pair.swapped_caption());
            let mut words: Vec<&str> = caption.split(' ').collect();
            let mut swapped: Vec<&str> = swapped_caption.split(' ').collect();
            words.sort_unstable();
            swapped.sort_unstable();
            assert_eq!(words, swapped, "the same bag of words");
        }
        assert!(parse_pair_caption("a red square right of a blue circle").is_err());
    }

    #[test]
    fn pairs_draw_each_object_in_its_half() {
        let config = ShapesConfig::default();
        for pair in sample_pairs(100, 3, Split::Train) {
            let image = config.draw_pair(&pair);
            let left = pixels_of(&image, 16, pair.left.colour.rgb());
            let right = pixels_of(&image, 16, pair.right.colour.rgb());
            assert!(!left.is_empty() && left.iter().all(|p| p % 16 < 8), "{pair:?}");
            assert!(!right.is_empty() && right.iter().all(|p| p % 16 >= 8), "{pair:?}");
            assert_ne!(bits(&image), bits(&config.draw_pair(&pair.swapped())));
        }
    }

    #[test]
    fn draws_are_seeded_and_noise_stays_in_range() {
        assert_eq!(sample(50, 9, Split::Train), sample(50, 9, Split::Train));
        assert_ne!(sample(50, 9, Split::Train), sample(50, 10, Split::Train));
        let noisy = ShapesConfig::new(16, 0.1).unwrap();
        let scenes = sample(20, 0, Split::Train);
        let images = noisy.draw_batch(&scenes, 4);
        assert_eq!(images.len(), 20 * 768);
        assert!(images.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(images, noisy.draw_batch(&scenes, 4));
        assert_ne!(images, noisy.draw_batch(&scenes, 5));
        let clean = ShapesConfig::default().draw_batch(&scenes, 4);
        let max_change = images.iter().zip(&clean).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(max_change > 0.05 && max_change <= 0.1, "{max_change}");
    }

    #[test]
    fn bad_configs_are_errors() {
        for side in [0, 15, MAX_SIDE + 1, usize::MAX] {
            assert!(matches!(ShapesConfig::new(side, 0.0), Err(DataError::ShapesSide { .. })));
        }
        for noise in [-0.1, 0.6, f32::NAN, f32::INFINITY] {
            assert!(matches!(ShapesConfig::new(16, noise), Err(DataError::Noise { .. })));
        }
        assert!(sample(0, 0, Split::HeldOut).is_empty());
    }

    proptest! {
        #[test]
        fn every_pixel_is_in_the_unit_interval(
            side in MIN_SIDE..64,
            noise in 0.0f32..=MAX_NOISE,
            seed: u64,
        ) {
            let config = ShapesConfig::new(side, noise).unwrap();
            let scenes = sample(3, seed, Split::Train);
            let images = config.draw_batch(&scenes, seed);
            prop_assert_eq!(images.len(), 3 * config.image_len());
            prop_assert!(images.iter().all(|v| (0.0..=1.0).contains(v)));
            let pairs = config.draw_pair_batch(&sample_pairs(2, seed, Split::HeldOut), seed);
            prop_assert!(pairs.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
