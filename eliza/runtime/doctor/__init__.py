"""ELIZA with the DOCTOR script, after Weizenbaum (CACM 9(1), 1966).

>>> doctor = Doctor()
>>> doctor.respond("Men are all alike.")
'In what way?'
"""

from .engine import Doctor
from .script import Script, load_script

__all__ = ["Doctor", "Script", "load_script"]
