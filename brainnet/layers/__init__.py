"""Layers, by Keras name. Each one is a ``torch.nn.Module`` that builds its
weights on first call and states the equation it computes."""

from .base import Layer
from .convolution import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .merging import Add, Average, Concatenate, Multiply
from .normalization import BatchNormalization
from .normalization import LayerNormalization
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .transformer import PositionalEncoding, PositionEmbedding, TransformerDecoder, TransformerEncoder
from .pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from .symbolic import Input
from .embedding import Embedding
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = [
    "Layer",
    "Dense",
    "Flatten",
    "Dropout",
    "Activation",
    "Reshape",
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "BatchNormalization",
    "Input",
    "Add",
    "Average",
    "Concatenate",
    "Multiply",
    "LayerNormalization",
    "Attention",
    "AdditiveAttention",
    "MultiHeadAttention",
    "PositionalEncoding",
    "PositionEmbedding",
    "TransformerEncoder",
    "TransformerDecoder",
    "Embedding",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
]
