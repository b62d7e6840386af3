"""The native engine's networks (gpu/worker/models/architectures.ts) in PyTorch: the same layers, widths and
initialisation rules, weights drawn by the same seeded generator (rng.initial_values, in Keras' layout and
transposed into PyTorch's). Inputs arrive NHWC as the native data; convolutions run NCHW, and activations are
flattened in NHWC order so a dense layer after them sees the native layout. Parameters are named after the
native weights ("fc1/kernel", "stage2_block1_conv1/kernel"), which names the tensors in the records.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .rng import initial_values

GLOROT = {"kind": "glorotUniform"}
HE = {"kind": "heNormal"}


class Network(nn.Module):
    """Records the native name, Keras shape and rule of each initialised weight, in creation order."""

    def __init__(self):
        super().__init__()
        self.native = []  # (native name, module attribute path, keras shape, rule)
        self.eval_batch_size = 1000

    def dense(self, name, fan_in, units, rule=GLOROT):
        layer = nn.Linear(fan_in, units)
        self.add_module(name, layer)
        self.native.append((name + "/kernel", layer.weight, [fan_in, units], rule, "dense"))
        self.native.append((name + "/bias", layer.bias, [units], None, "bias"))
        return layer

    def conv(self, name, cin, cout, size, stride=1, padding="same", bias=True, rule=HE):
        pad = size // 2 if padding == "same" else 0
        layer = nn.Conv2d(cin, cout, size, stride=stride, padding=pad, bias=bias)
        self.add_module(name, layer)
        self.native.append((name + "/kernel", layer.weight, [size, size, cin, cout], rule, "conv"))
        if bias:
            self.native.append((name + "/bias", layer.bias, [cout], None, "bias"))
        return layer

    def bn(self, name, channels):
        layer = nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)
        self.add_module(name, layer)
        self.native.append((name + "/gamma", layer.weight, [channels], None, "ones"))
        self.native.append((name + "/beta", layer.bias, [channels], None, "bias"))
        return layer

    def initialise(self, seed):
        with torch.no_grad():
            for name, param, shape, rule, kind in self.native:
                if kind in ("bias", "forget"):
                    param.zero_()
                elif kind == "ones":
                    param.fill_(1)
                elif kind == "embedding":
                    param.copy_(torch.from_numpy(initial_values(rule, shape, seed, name)))
                else:
                    values = torch.from_numpy(initial_values(rule, shape, seed, name))
                    param.copy_(values.t() if kind in ("dense", "lstm") else values.permute(3, 2, 0, 1))

    def named_tensors(self):
        """(native name, parameter) of every trainable tensor, in the native order."""
        return [(name, param) for name, param, *_ in self.native if param.requires_grad]


def _nchw(x):
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def _flatten_nhwc(x):
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if x.dim() == 4 else x.reshape(x.shape[0], -1)


class MLP(Network):
    def __init__(self, features, widths, classes):
        super().__init__()
        self.layers = []
        fan_in = features
        for i, width in enumerate(widths):
            self.layers.append(self.dense("fc%d" % (i + 1), fan_in, width))
            fan_in = width
        self.layers.append(self.dense("fc%d" % (len(widths) + 1) if widths else "fc", fan_in, classes))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class LeNet(Network):
    def __init__(self, shape, classes):
        super().__init__()
        height, _, channels = shape
        self.conv("conv1", channels, 20, 5, padding="valid")
        self.conv("conv2", 20, 50, 5, padding="valid")
        side = ((height - 4) // 2 - 4) // 2
        self.dense("fc1", side * side * 50, 500, HE)
        self.dense("fc2", 500, classes)
        self.eval_batch_size = 500

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(_nchw(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(_flatten_nhwc(x))))


class ResNet20(Network):
    """3 stages x 3 basic blocks, 16/32/64 channels, option-A shortcuts (subsample, zero-pad channels)."""

    def __init__(self, shape, classes):
        super().__init__()
        self.conv("conv1", shape[2], 16, 3, bias=False)
        self.bn("bn1", 16)
        self.blocks = []
        channels = 16
        for s, width in enumerate((16, 32, 64)):
            for block in range(3):
                name = "stage%d_block%d" % (s + 1, block + 1)
                stride = 2 if s > 0 and block == 0 else 1
                self.conv(name + "_conv1", channels, width, 3, stride=stride, bias=False)
                self.bn(name + "_bn1", width)
                self.conv(name + "_conv2", width, width, 3, bias=False)
                self.bn(name + "_bn2", width)
                self.blocks.append((name, stride, channels, width))
                channels = width
        self.dense("fc", 64, classes)
        self.eval_batch_size = 200

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(_nchw(x))))
        for name, stride, channels, width in self.blocks:
            y = F.relu(getattr(self, name + "_bn1")(getattr(self, name + "_conv1")(x)))
            y = getattr(self, name + "_bn2")(getattr(self, name + "_conv2")(y))
            shortcut = x
            if stride != 1 or width != channels:
                shortcut = x[:, :, ::stride, ::stride]
                extra = width - channels
                shortcut = F.pad(shortcut, (0, 0, 0, 0, extra // 2, extra - extra // 2))
            x = F.relu(y + shortcut)
        return self.fc(x.mean(dim=(2, 3)))


VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class Vgg16(Network):
    def __init__(self, shape, classes):
        super().__init__()
        self.plan = []
        channels, conv = shape[2], 0
        for item in VGG16:
            if item == "M":
                self.plan.append(None)
            else:
                conv += 1
                name = "conv%d" % conv
                self.conv(name, channels, item, 3, bias=False)
                self.bn(name + "_bn", item)
                self.plan.append(name)
                channels = item
        self.dense("fc", 512, classes)
        self.eval_batch_size = 100

    def forward(self, x):
        x = _nchw(x)
        for name in self.plan:
            x = F.max_pool2d(x, 2) if name is None else F.relu(getattr(self, name + "_bn")(getattr(self, name)(x)))
        return self.fc(_flatten_nhwc(x))


class LstmLanguageModel(Network):
    """Embedding (U(±0.1)), 2 stacked LSTMs of 200 (Glorot kernels, orthogonal recurrent kernels, forget bias 1),
    a dense decoder (U(±0.1)). PyTorch's second LSTM bias is held at zero, so the trainable tensors are Keras'."""

    def __init__(self, vocabulary, embedding=200, hidden=200, layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding)
        self.native.append(("embedding/embeddings", self.embedding.weight, [vocabulary, embedding], {"kind": "uniform", "limit": 0.1}, "embedding"))
        self.lstms = nn.ModuleList()
        fan_in = embedding
        for l in range(layers):
            lstm = nn.LSTM(fan_in, hidden, batch_first=True)
            lstm.bias_hh_l0.requires_grad_(False)
            self.lstms.append(lstm)
            name = "lstm%d" % (l + 1)
            self.native.append((name + "/kernel", lstm.weight_ih_l0, [fan_in, 4 * hidden], GLOROT, "lstm"))
            self.native.append((name + "/recurrent_kernel", lstm.weight_hh_l0, [hidden, 4 * hidden], {"kind": "orthogonal"}, "lstm"))
            self.native.append((name + "/bias", lstm.bias_ih_l0, [4 * hidden], None, "forget"))
            fan_in = hidden
        self.dense("decoder", hidden, vocabulary, {"kind": "uniform", "limit": 0.1})
        self.hidden, self.layers, self.eval_batch_size = hidden, layers, 10

    def initialise(self, seed):
        super().initialise(seed)
        with torch.no_grad():
            for lstm in self.lstms:
                lstm.bias_ih_l0.zero_()
                lstm.bias_ih_l0[self.hidden : 2 * self.hidden] = 1  # gates i, f, g, o: unitForgetBias
                lstm.bias_hh_l0.zero_()

    def forward(self, tokens, state=None):
        x = self.embedding(tokens)
        states = []
        for l, lstm in enumerate(self.lstms):
            x, s = lstm(x, None if state is None else state[l])
            states.append(s)
        return self.decoder(x), states


def build_model(name, dataset, seed):
    shape, classes = dataset.input_shape, dataset.classes
    features = 1
    for n in shape:
        features *= n
    if name == "logreg":
        model = MLP(features, [], classes)
    elif name == "fnn":
        model = MLP(features, [200, 200], classes)
    elif name == "synthetic":
        model = MLP(features, [64, 64], classes)
    elif name == "cnn":
        model = LeNet(shape, classes)
    elif name == "resnet20":
        model = ResNet20(shape, classes)
    elif name == "vgg16":
        model = Vgg16(shape, classes)
    elif name == "lstm":
        model = LstmLanguageModel(classes)
    else:
        raise ValueError("unknown model %r" % name)
    model.initialise(seed)
    return model
