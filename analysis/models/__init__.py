"""Every network the study trains: the reference CNN and the dense baseline with their
analytic descriptions (networks), and the mechanism networks with one ingredient of
convolution taken away, the locally connected one included (ablation)."""
