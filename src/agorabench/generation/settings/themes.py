"""Themes that steer instance generation toward breadth: one is drawn at random for every prompt.
(The paper draws from tens of themes per domain, and a random first word for general instructions.)"""

from __future__ import annotations

MATH_THEMES = [
    "percentages and discounts", "ratios and proportions", "rates, speed and work", "unit conversion",
    "fractions and decimals", "simple and compound interest", "averages and weighted means",
    "age puzzles", "time and calendars", "money and budgeting", "perimeter and area",
    "volume and surface area", "angles and triangles", "the Pythagorean theorem", "circles and arcs",
    "coordinate geometry", "similar figures and scale", "linear equations", "systems of linear equations",
    "inequalities", "quadratic equations", "polynomials and their roots", "exponents and radicals",
    "logarithms", "arithmetic sequences", "geometric sequences and series", "functions and composition",
    "absolute value", "divisibility and remainders", "prime factorisation", "greatest common divisor and lcm",
    "modular arithmetic", "digits and place value", "counting principles", "permutations",
    "combinations", "probability with dice and coins", "conditional probability", "expected value",
    "trigonometric identities", "complex numbers", "vectors", "matrices and determinants",
    "sets and Venn diagrams", "mixtures and concentrations", "optimisation with constraints",
]

CODE_THEMES = [
    "string manipulation", "parsing structured text", "list processing", "dictionary aggregation",
    "sorting with custom keys", "binary search", "two pointers", "sliding window", "stacks and queues",
    "recursion", "dynamic programming", "greedy algorithms", "graph traversal (BFS/DFS)",
    "shortest paths", "trees and tree traversal", "heaps and priority queues", "bit manipulation",
    "number theory", "matrix operations", "interval merging", "date and time handling",
    "simulation of a simple process", "validation of user input", "text statistics",
    "generators and iterators", "a small class with methods", "caching and memoisation",
    "working with CSV data", "JSON transformation", "regular expressions", "geometry computations",
    "combinatorics", "run-length and other encodings", "set operations", "hashing and deduplication",
    "game of life style grids", "scheduling problems", "inventory or bank-account bookkeeping",
    "string similarity", "prefix sums",
]

GENERAL_THEMES = [
    "cooking and recipes", "travel planning", "personal finance basics", "career advice",
    "job applications and interviews", "study techniques", "productivity habits", "fitness routines",
    "nutrition basics", "sleep", "gardening", "home repair", "pets", "parenting", "friendship",
    "workplace communication", "email writing", "public speaking", "creative writing", "poetry",
    "storytelling for children", "history", "geography", "astronomy", "physics explained simply",
    "biology", "chemistry in everyday life", "climate and environment", "economics concepts",
    "philosophy", "ethics dilemmas", "psychology concepts", "music", "film and television",
    "visual arts", "architecture", "technology trends", "software and apps", "internet safety",
    "language learning", "grammar and style", "marketing", "small business", "event planning",
    "sports", "games and puzzles", "fashion", "sustainability at home", "volunteering", "negotiation",
]

# First words for general instructions: varying the opening varies the kind of request.
GENERAL_FIRST_WORDS = [
    "Write", "Explain", "Describe", "Compare", "List", "Suggest", "Create", "Plan", "Summarize",
    "Give", "Imagine", "Draft", "Design", "Outline", "Help", "Rewrite", "Analyze", "Recommend",
    "Propose", "Brainstorm", "Convince", "Teach", "Evaluate", "Identify", "Classify", "Translate",
    "What", "How", "Why", "Which", "Can", "Should", "I",
]

THEMES = {"math": MATH_THEMES, "code": CODE_THEMES, "general": GENERAL_THEMES}


def themes_digest(domain: str) -> str:
    """sha256[:16] of what instance generation draws from for `domain` (its themes, and first words for
    general): part of the generation stage's key, like the templates."""
    import hashlib
    import json

    drawn = {"themes": THEMES[domain], "first_words": GENERAL_FIRST_WORDS if domain == "general" else []}
    return hashlib.sha256(json.dumps(drawn, sort_keys=True).encode()).hexdigest()[:16]
