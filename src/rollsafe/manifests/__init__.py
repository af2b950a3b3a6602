"""Kubernetes manifests → linked workloads → Scenario, with the provenance (file:line) of every value.

``reader`` turns files, directories and stdin into objects (multi-document YAML, ``kind: List``, JSON),
``link`` joins Ingress / TargetGroupBinding → Service → Deployment, ``facts`` reads the settings that
matter with where each came from, ``build`` turns them into the simulator's Scenario. Nothing here runs the
simulator or decides exit codes; bad input is returned as data (Problem), never raised past the caller.
"""
