"""What each network is, in words: the design tables and paragraphs the notebooks show above a
network's layer table (`DESIGN[model]`). Prose, not code a run computes with, so it is
presentation (runner.codeprint): a new entry or a better sentence redraws, never retrains."""

DESIGN = {
    "baseline": """Flatten → Dense(512, ReLU) → Dropout(0.3) → Dense(256, ReLU) → Dense(classes, softmax).
Every pixel is a separate input: the first layer has `3 · size² · 512` weights, no weight is
shared between positions, and nothing tells the network that neighbouring pixels belong
together. It is trained by the CNN's recipe (schedule, augmentation, epoch selection on val)
with its own learning rate and length, both chosen on val.""",
    "cnn": """| component | choice | reason |
|---|---|---|
| input | RGB, squashed to `image_size`², scaled to [0, 1] in the model | the browse images are 256 px wide with several heights; a fixed square keeps every image whole |
| convolutions | four blocks, 32 → 64 → 128 → 256 filters (`filters`) | channels double as resolution halves, so each block costs about the same |
| kernel | 3×3, stride 1, `same` padding (`kernel_sizes`) | two stacked 3×3 see 5×5 with fewer weights and one more non-linearity |
| normalisation | batch norm after each convolution (no conv bias), momentum 0.9 | steadier training from scratch; momentum 0.9 keeps the inference statistics in step with the weights |
| non-linearity | ReLU | cheap, no saturation for positive inputs |
| downsampling | 2×2 max-pooling | halves resolution, doubles receptive-field growth, adds a little translation tolerance |
| head | global average pooling → dropout 0.5 → softmax | a dense head on the last map would overfit 3,746 images; GAP keeps the head small and shift-tolerant |""",
    "locally_connected": """The reference CNN's blocks (kernel, filters, batch norm, ReLU,
2×2 max-pooling, global average pooling, dropout, softmax) with every convolution replaced by a
**locally connected** layer: each output position has its own k×k filter instead of sharing one.
Locality is kept (a unit sees the same small window), weight sharing is gone, and the parameter
count grows with the map's area.""",
    "dense": """The dense baseline's form — Flatten → Dense(ReLU) → Dropout(0.3) → Dense(ReLU) →
softmax — with the widths in `dense_units`: no locality and no sharing, at the parameter count
these widths give.""",
    "flatten": """The reference CNN up to its last pooling, then **Flatten** → Dropout(0.5) →
softmax instead of global average pooling: the classifier sees every position of the last map
separately, so it can tie a class to where a pattern is.""",
    "cnn_scrambled": """The reference CNN behind **one fixed shuffle of every value of the
image**: positions and colour channels together (a layer without weights, the same shuffle for every image). A pixel's
red, green and blue no longer sit together, and no input channel holds one colour, so neither the
colour of a pixel nor an image's average colour reaches the network as colour. Compared with the
CNN on shuffled positions, which keeps each pixel's RGB triplet, it shows how much of that
network's lead over the dense network was colour.""",
    "cnn_strided": """The reference CNN with each **2×2 max-pooling replaced by a stride-2
convolution**: the block's convolution itself halves the map, so downsampling is learned instead
of fixed, and the network has no pooling layer before global average pooling. Parameters are
the reference's; the arithmetic is about a quarter, since each convolution computes a quarter
of the positions, and the last unit sees less of the image: no pooling window widens it.""",
    "cnn_stem2": """The reference CNN with a **stride-2 first convolution**: the first block
sees the image at half resolution from the start (then pools as the reference does), so every
later map is half as wide, the receptive field grows twice as fast, and the arithmetic falls to
about a quarter.""",
    "cnn_valid": """The reference CNN with **`valid` padding**: no zeros are added around a map,
so each 3×3 convolution shrinks it by two pixels and the units near the border, which `same`
padding lets look past the edge, are dropped. Parameters are the reference's; the last map is
smaller.""",
}
