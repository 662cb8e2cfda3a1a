"""Embedding alignment: does a visually identical image with another class's embedding keep its label?"""
