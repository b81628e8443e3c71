"""The interpretability pillar: attributions, faithfulness, stability and completeness."""
