"""Docking worker process for :class:`svdd_ray.chem.docking.DockingReward`.

Run as a script (``python _dock_worker.py``) by the parent; it imports only
RDKit, Meeko and Vina (not torch or svdd_ray) so that it starts quickly.
Protocol: newline-delimited JSON. The parent's first line is the set-up
(receptor, box, search settings); the worker computes the receptor maps and
answers ``{"ready": true}``. Each later line ``{"smiles": ...}`` is answered
with ``{"affinities": [...]}`` or ``{"error": "..."}``. The protocol uses a
private duplicate of the original stdout; fd 1 is redirected to stderr so
that C++ prints cannot corrupt it.

:func:`prepare_ligand` is also used in-process (and tested) by the parent.
"""

from __future__ import annotations

import json
import os
import sys

#: elements Vina's scoring function and Meeko's AD4 typing handle for drug-like ligands
ALLOWED_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})


class LigandError(ValueError):
    """The molecule cannot be prepared for docking (reported as NaN)."""


def prepare_ligand(smiles: str, seed: int = 0) -> str:
    """SMILES -> ligand PDBQT string (RDKit ETKDGv3 + MMFF94, Meeko typing).

    Raises :class:`LigandError` for unusable molecules: unparseable, several
    fragments, radicals, elements outside :data:`ALLOWED_ELEMENTS` (metals,
    boron, silicon, selenium ...), embedding or typing failure. Protonation
    states are taken as written (no pH model; dockstring protonates at pH 7.4
    with Open Babel, which is GPL and not used here).
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem, Descriptors

    RDLogger.DisableLog("rdApp.*")
    if not isinstance(smiles, str) or not smiles.strip():
        raise LigandError("empty SMILES")
    mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None or mol.GetNumAtoms() == 0:
        raise LigandError("unparseable SMILES")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise LigandError("molecule has several fragments")
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - ALLOWED_ELEMENTS)
    if bad:
        raise LigandError(f"unsupported element(s) {bad}")
    if Descriptors.NumRadicalElectrons(mol) > 0:
        raise LigandError("molecule has radical electrons")

    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.maxIterations = 200
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise LigandError("3D embedding failed")
    try:
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, mmffVariant="MMFF94", maxIters=2000)
        elif AllChem.UFFHasAllMoleculeParams(mol):
            AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    except Exception:  # keep the ETKDG geometry
        pass

    from meeko import MoleculePreparation, PDBQTWriterLegacy

    try:
        setups = MoleculePreparation(rigid_macrocycles=True).prepare(mol)
        pdbqt, ok, message = PDBQTWriterLegacy.write_string(setups[0])
    except Exception as exc:
        raise LigandError(f"Meeko preparation failed: {exc}") from None
    if not ok:
        raise LigandError(f"Meeko could not write PDBQT: {message}")
    return pdbqt


#: Vina draws a random seed when given 0; seed 0 is mapped to dockstring's default seed instead.
DEFAULT_VINA_SEED = 974528263


def vina_seed(seed: int) -> int:
    """The seed passed to Vina for a user seed (0 would mean "random" to Vina)."""
    return int(seed) if int(seed) != 0 else DEFAULT_VINA_SEED


def _serve(channel_out, lines) -> None:
    from vina import Vina

    setup = json.loads(next(lines))
    vina = Vina(sf_name="vina", cpu=int(setup["cpu"]), seed=vina_seed(setup["seed"]), verbosity=0)
    vina.set_receptor(setup["receptor"])
    vina.compute_vina_maps(center=list(setup["center"]), box_size=list(setup["size"]))

    def reply(obj) -> None:
        channel_out.write(json.dumps(obj) + "\n")
        channel_out.flush()

    reply({"ready": True})
    for line in lines:
        request = json.loads(line)
        try:
            pdbqt = prepare_ligand(request["smiles"], seed=int(setup["seed"]))
            vina.set_ligand_from_string(pdbqt)
            vina.dock(
                exhaustiveness=int(setup["exhaustiveness"]),
                n_poses=int(setup["num_poses"]),
                max_evals=int(setup.get("max_evals", 0)),
            )
            energies = vina.energies(n_poses=int(setup["num_poses"]))
            answer = {"affinities": [float(row[0]) for row in energies]}
            if setup.get("return_poses"):
                answer["poses"] = vina.poses(n_poses=int(setup["num_poses"]))
            reply(answer)
        except LigandError as exc:
            reply({"error": str(exc), "kind": "ligand"})
        except Exception as exc:  # Vina errors on odd ligands: still a NaN, not a crash
            reply({"error": f"{type(exc).__name__}: {exc}", "kind": "vina"})


def main() -> None:
    channel_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed to stdout by C++ code goes to stderr
    sys.stdout = sys.stderr
    _serve(channel_out, iter(sys.stdin.readline, ""))


if __name__ == "__main__":
    main()
