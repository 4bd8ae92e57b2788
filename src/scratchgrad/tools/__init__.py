"""Developer tools: gradient checking, model summaries and graph export."""
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import to_dot
from .summary import LayerSummary, ModelSummary, summary

__all__ = ["GradcheckError", "LayerSummary", "ModelSummary", "gradcheck", "gradgradcheck", "summary", "to_dot"]
