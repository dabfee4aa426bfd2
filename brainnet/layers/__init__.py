"""Layers, by Keras name. Each one is a ``torch.nn.Module`` that builds its
weights on first call and states the equation it computes."""

from .activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .augmentation_color import (AutoContrast, RandomColorDegeneration, RandomGrayscale, RandomInvert,
                                 RandomPosterization, Solarization)
from .augmentation_filter import Equalization, RandomGaussianBlur
from .augmentation_hsv import RandomColorJitter, RandomHue, RandomSaturation
from .augmentation_intensity import RandomContrast, RandomErasing, RandomSharpness
from .augmentation_mixing import CutMix, MixUp
from .augmentation_warp import RandomElasticTransform, RandomPerspective, RandomShear
from .augmentation_policies import AugMix, Pipeline, RandAugment
from .base import Layer
from .category_encoding import CategoryEncoding
from .convolution import Conv1D, Conv2D
from .convolution3d import Conv3D
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .convolution_separable import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .convolution_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from .core import Activation, Dense, Dropout, Flatten, Rescaling, Reshape
from .discretization import Discretization
from .einsum_dense import EinsumDense
from .embedding import Embedding
from .feature_normalization import Normalization
from .group_query_attention import GroupQueryAttention
from .hashed_crossing import HashedCrossing
from .hashing import Hashing
from .image_preprocessing import CenterCrop, RandomBrightness, RandomCrop, Resizing
from .augmentation_size import RandomHeight, RandomWidth
from .integer_lookup import IntegerLookup
from .get_item import GetItem
from .lambda_layer import Lambda
from ._layer_serialization import deserialize, serialize
from .lookup import StringLookup
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      dot, maximum, minimum, multiply, subtract)
from .noise import AlphaDropout, GaussianDropout, GaussianNoise
from .passthrough import ActivityRegularization, Identity, Masking
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from .rms_normalization import RMSNormalization
from .global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D, MaxPooling1D,
                      MaxPooling2D)
from .pooling3d import (
    AveragePooling3D,
    AvgPool3D,
    GlobalAveragePooling3D,
    GlobalAvgPool3D,
    GlobalMaxPool3D,
    GlobalMaxPooling3D,
    MaxPool3D,
    MaxPooling3D,
)
from .axes import Permute, RepeatVector
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell
from .stacked_rnn_cells import StackedRNNCells
from .reshaping import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .reshaping3d import Cropping3D, UpSampling3D, ZeroPadding3D
from .spectral_normalization import SpectralNormalization
from .stft_spectrogram import STFTSpectrogram
from .mel_spectrogram import MelSpectrogram
from .spatial_dropout import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .input_spec import InputSpec
from .symbolic import Input
from .input_layer import InputLayer
from .text_vectorization import TextVectorization
from .torch_module_wrapper import TorchModuleWrapper
from .transformer import PositionalEncoding, PositionEmbedding, TransformerDecoder, TransformerEncoder
from .wrappers import TimeDistributed, Wrapper

# Keras's long names of the convolution classes (Keras 1 tutorials write Convolution2D; Keras 3 keeps them).
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

__all__ = [
    "Layer",
    "Input",
    "InputLayer",
    "InputSpec",
    # Keras 3's layers.serialize / layers.deserialize: a layer as a JSON-safe spec, and back
    "serialize", "deserialize",
    # core
    "Dense", "EinsumDense", "Flatten", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "Activation", "Reshape",
    "RepeatVector", "Permute", "Lambda", "GetItem", "Identity", "Masking", "ActivityRegularization",
    "Rescaling", "ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU",
    # noise (training only)
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
    # augmentation (training only)
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomErasing",
    "RandomCrop", "RandomHeight", "RandomWidth", "RandomBrightness", "RandomInvert", "Solarization", "RandomPosterization", "RandomGrayscale",
    "RandomColorDegeneration",
    "RandomSaturation", "RandomHue", "RandomSharpness", "RandomColorJitter", "MixUp", "CutMix",
    "RandomShear", "RandomPerspective", "RandomGaussianBlur", "RandomElasticTransform",
    "Pipeline", "RandAugment", "AugMix",
    # image preprocessing
    "Resizing", "CenterCrop", "AutoContrast", "Equalization",
    # convolution and pooling
    "Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv2D", "DepthwiseConv1D",
    "SeparableConv2D", "SeparableConv1D", "MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    # volumes (batch, depth, height, width, channels)
    "Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "UpSampling3D", "ZeroPadding3D", "Cropping3D",
    # Keras's long names for the same convolution classes (Keras 1's Convolution2D, kept by Keras 3)
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D",
    # Keras's short names for the same pooling classes
    "MaxPool3D", "AvgPool3D", "GlobalAvgPool3D", "GlobalMaxPool3D",
    "MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalMaxPool1D",
    # resizing without weights: decoders and U-Nets
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    # normalization
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "RMSNormalization", "Normalization",
    "SpectralNormalization",
    # merging and wrappers
    "Add", "Subtract", "Average", "Concatenate", "Dot", "Multiply", "Maximum", "Minimum", "TimeDistributed",
    "TorchModuleWrapper", "Wrapper",
    # Keras's functional shorthands: concatenate([a, b]) is Concatenate()([a, b])
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    # sequences: embedding, recurrent, attention, Transformer
    "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
    "PositionalEncoding", "PositionEmbedding", "TransformerEncoder", "TransformerDecoder",
    # text preprocessing: strings to indices
    "TextVectorization", "StringLookup",
    # structured data: categories and numbers to indices and vectors
    "IntegerLookup", "CategoryEncoding", "Discretization", "Hashing", "HashedCrossing",
    # audio preprocessing: signals to spectrograms
    "STFTSpectrogram", "MelSpectrogram",
]
