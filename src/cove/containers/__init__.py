"""Containers: what a user asked for, the runtime spec made from it, its files, its status."""
