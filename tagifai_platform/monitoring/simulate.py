"""Fake traffic for scenario tests and demos: logged-prediction rows without a prediction server.

A shifted stream needs texts about something the model was never taught; quantum computing and
bioinformatics projects are plausible on an ML project board yet share little vocabulary with
vision, language or MLOps projects.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tagifai_platform.ml.model import TagClassifier, as_texts, predict
from tagifai_platform.monitoring.drift import WINDOW_COLUMNS, confidence_of

NEW_TOPIC_TEXTS = (
    "Qiskit Pulse Scheduler Schedule microwave pulses on superconducting qubits to reduce gate errors.",
    "Variational Quantum Eigensolver Estimate molecular ground state energies with a hybrid quantum circuit.",
    "QAOA for MaxCut Solve combinatorial graph cuts with the quantum approximate optimization algorithm.",
    "Surface Code Decoder Decode syndromes of the surface code for fault tolerant quantum computation.",
    "Quantum Volume Benchmark Measure quantum volume of noisy intermediate scale quantum hardware.",
    "Cirq Noise Models Simulate depolarizing and amplitude damping channels on trapped ion qubits.",
    "Grover Search Tutorial Amplitude amplification with oracles and diffusion operators in Q#.",
    "Shor Factoring Demo Period finding with the quantum Fourier transform on a simulator.",
    "Qubit Tomography Reconstruct density matrices from Pauli measurements of entangled qubits.",
    "Quantum Error Mitigation Zero noise extrapolation and readout calibration for IBM quantum devices.",
    "PennyLane Chemistry Compute dissociation curves of hydrogen with parameterized ansatz circuits.",
    "Quantum Key Distribution BB84 protocol simulation with eavesdropper detection over fibre channels.",
    "Transpiler Passes Map logical qubits onto coupling graphs while minimizing SWAP gate overhead.",
    "Bell Inequality Lab Violate the CHSH inequality with polarization entangled photon pairs.",
    "Annealing Portfolio Solve QUBO formulations of portfolio selection on a D-Wave annealer.",
    "Genome Assembly Toolkit De novo assembly of bacterial genomes from long nanopore sequencing reads.",
    "Variant Calling Pipeline Call SNPs and indels from aligned exome reads against the GRCh38 assembly.",
    "Protein Folding Explorer Predict tertiary structure of proteins from amino acid sequences.",
    "Single Cell RNA Atlas Cluster single cell transcriptomes and annotate cell types in bone marrow.",
    "Phylogenetic Tree Builder Infer maximum likelihood phylogenies from multiple sequence alignments.",
    "Metagenomics Profiler Estimate taxonomic abundance of gut microbiome samples from shotgun reads.",
    "CRISPR Guide Designer Score guide RNAs for on target efficiency and off target cleavage.",
    "Methylation Caller Detect CpG methylation from bisulfite sequencing of tumour biopsies.",
    "Gene Expression Differential Testing Find differentially expressed genes between RNA-seq cohorts.",
    "Peptide Mass Spectrometry Identify peptides from tandem mass spectra with decoy database search.",
    "Codon Usage Analyzer Compare codon bias across yeast chromosomes and plasmids.",
    "Haplotype Phasing Phase heterozygous variants in trio pedigrees with read backed evidence.",
    "Enzyme Kinetics Fitter Fit Michaelis Menten constants to assay absorbance time courses.",
    "Chromatin Accessibility Peaks Call ATAC-seq peaks and find transcription factor motifs.",
    "Antibody Repertoire Sequencing Reconstruct clonotypes from B cell receptor amplicons.",
)


def prediction_rows(
    model: TagClassifier,
    texts: Iterable[str],
    model_version: str,
    start_time: datetime,
    *,
    interval: timedelta = timedelta(minutes=1),
) -> pd.DataFrame:
    """The rows serving would log for ``texts``, one request every ``interval`` from ``start_time``."""
    texts = as_texts(list(texts))
    predictions = predict(model, texts)
    return pd.DataFrame(
        {
            "request_id": [f"{model_version}-{start_time:%Y%m%d%H%M%S}-{i:05d}" for i in range(len(texts))],
            "logged_at": [start_time + i * interval for i in range(len(texts))],
            "text": texts,
            "tag": [row["tag"] for row in predictions],
            "confidence": [confidence_of(row) for row in predictions],
            "model_version": str(model_version),
        },
        columns=WINDOW_COLUMNS,
    )


def in_distribution_texts(labeled: pd.DataFrame, n: int, *, seed: int) -> list[str]:
    """``n`` texts drawn from a labeled frame (with replacement only when it is too small)."""
    return labeled["text"].sample(n=n, replace=n > len(labeled), random_state=seed).tolist()


def shifted_texts(n: int, *, seed: int) -> list[str]:
    """``n`` texts about the new topics, repeating them (as repeat requests would) beyond 30."""
    rng = np.random.default_rng(seed)
    return rng.choice(NEW_TOPIC_TEXTS, size=n, replace=n > len(NEW_TOPIC_TEXTS)).tolist()
